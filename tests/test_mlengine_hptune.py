"""The hyperparameter search (search.hptune on Optuna): a search of tiny trials, 2 at once, killed with
kill -9 and resumed to its maxTrials trials with none lost, its report and plot; a resumed search drawing
new settings; the pruner's warm-up; bad configs refused with the file and line at fault, and every bad flag
value in one line before Optuna or TensorFlow is imported. Several drivers on one study (PostgreSQL,
SQLite): tests/test_mlengine_search_sql.py."""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from mlengine_helpers import ENV, MLENGINE, command, mount_tmpfs, run, wait_for

from search import hpconfig

SMALL = open(os.path.join(MLENGINE, "config-hptune-small.yaml")).read()
TINY = (SMALL.replace("maxTrials: 8", "maxTrials: 4")
        .replace('"300", "--checkpoint-every", "100"', '"100", "--checkpoint-every", "50"'))


def test_the_shipped_configs_are_the_courses():
    course = hpconfig.read(os.path.join(MLENGINE, "config-hptune.yaml"))
    assert (course["goal"], course["metric"], course["max_trials"], course["max_parallel"]) == (
        "MINIMIZE", "loss", 53, 7)
    assert [(p["name"], p["type"], p["min"], p["max"], p["scale"]) for p in course["params"]] == [
        ("hp-conv1", "INTEGER", 6, 18, "UNIT_LINEAR_SCALE"), ("hp-conv2", "INTEGER", 12, 40, "UNIT_LINEAR_SCALE"),
        ("hp-conv3", "INTEGER", 30, 64, "UNIT_LINEAR_SCALE"), ("hp-lr2", "INTEGER", 500, 5000, "UNIT_LINEAR_SCALE")]
    small = hpconfig.read(os.path.join(MLENGINE, "config-hptune-small.yaml"))
    assert small["params"] == course["params"] and small["max_trials"] == 8 and small["max_parallel"] == 2


def study_trials(study_dir):
    import optuna
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(os.path.join(study_dir, "study.journal")))
    return optuna.load_study(study_name="tiny", storage=storage).get_trials()


@pytest.mark.slow
def test_a_search_killed_with_kill_9_resumes_to_all_its_trials_and_reports(tmp_path):
    config, study_dir = tmp_path / "tiny.yaml", tmp_path / "study"
    config.write_text(TINY)
    flags = ["--config", config, "--study-dir", study_dir, "--seed", "1"]
    log = open(tmp_path / "first.log", "w")
    driver = subprocess.Popen(command("search.hptune", *flags), cwd=MLENGINE, env=ENV, stdout=log,
                              stderr=subprocess.STDOUT)
    first = lambda: open(tmp_path / "first.log").read()  # noqa: E731
    wait_for(lambda: re.search(r"trial \d: loss .* after 100 steps", first()), 240, "a first trial")
    wait_for(lambda: len(re.findall(r"trial \d started", first())) >= 3, 60, "a third trial")
    time.sleep(2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    trainers = [t.user_attrs["trainer_pid"] for t in study_trials(study_dir) if t.state.name == "RUNNING"]
    assert trainers, first()  # the kill left trials running in the storage...
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in trainers), 90, "orphan trainers to stop")

    again = run("search.hptune", *flags)  # without --resume: refused, in one line
    assert again.returncode == 1 and "exists already: add --resume" in again.stderr and "Traceback" not in again.stderr
    done = run("search.hptune", *flags, "--resume", timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"its driver is gone \(.*\); marked failed and queued again", done.stdout)
    trials = study_trials(study_dir)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(finished) == 4 and failed and not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    reruns = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    for t in failed:  # ...and none is lost: each failed one was run again with its parameters
        assert t.number in reruns and reruns[t.number].params == t.params
        assert reruns[t.number].user_attrs["job_dir"] == t.user_attrs["job_dir"]
    report = (study_dir / "report.txt").read_text()
    best = min((t for t in finished if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert f"best: trial {best.number}: loss {best.value:.4f}" in report and "--hp-conv1" in report
    assert len([line for line in report.splitlines() if re.match(r"\d+ ", line)]) == len(trials)
    assert (study_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    alone = run("search.hptune", *flags, "--report")
    assert alone.returncode == 0 and f"best: trial {best.number}" in alone.stdout


@pytest.mark.parametrize("old, new, at, message", [  # at: the text of the line the error must name
    ("type: INTEGER", "type: FLOAT", "type: FLOAT", "type is 'FLOAT': one of INTEGER, DOUBLE, DISCRETE, CATEGORICAL"),
    ("scaleType: UNIT_LINEAR_SCALE", "scaleType: LINEAR", "LINEAR", "scaleType is 'LINEAR'"),
    ("minValue: 12", "minValue: 50", "minValue: 50", "hp-conv2: minValue 50 is above maxValue 40"),
    ("parameterName: hp-conv3", "parameterName: hp-conv4", "hp-conv4",
     "parameterName 'hp-conv4': the trainer has no flag --hp-conv4"),
    ("    hyperparameterMetricTag: loss\n", "", "goal:", "hyperparameters has no hyperparameterMetricTag"),
    ("hyperparameterMetricTag: loss", "hyperparameterMetricTag: auc", "auc", "hyperparameterMetricTag is 'auc'"),
    ("    maxTrials: 8\n", "", "goal:", "hyperparameters has no maxTrials (required)"),
    ("      - parameterName: hp-lr2\n", "      - type: DOUBLE\n", "DOUBLE", "this parameter has no parameterName"),
    ("minValue: 500", "minValue: 0", "minValue: 0", "hp-lr2: UNIT_LOG_SCALE needs minValue > 0, got 0"),
    ("maxValue: 18", "maxValeu: 18", "maxValeu", "unknown field 'maxValeu'"),
    ("goal: MINIMIZE", "goal: LOWEST", "LOWEST", "goal is 'LOWEST': MINIMIZE or MAXIMIZE"),
    ("maxParallelTrials: 2", "maxParallelTrials: 0", "maxParallelTrials", "maxParallelTrials is 0: a whole number >= 1"),
    ("type: INTEGER", "type: DOUBLE", "DOUBLE", "--hp-conv1 takes whole numbers: use INTEGER or DISCRETE"),
    ('"--checkpoint-every", "100"', '"--hp-conv1", "8"', "args", "trainingInput.args sets --hp-conv1"),
    ("params:", "params: [", "- parameterName: hp-conv1", "not valid YAML"),  # where the parser stops
])
def test_a_bad_config_is_refused_with_its_line(tmp_path, old, new, at, message):
    text = SMALL
    if "UNIT_LOG_SCALE" in message:  # the last parameter (hp-lr2) on a log scale
        text = text[::-1].replace("UNIT_LINEAR_SCALE"[::-1], "UNIT_LOG_SCALE"[::-1], 1)[::-1]
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if at in t and not t.lstrip().startswith("#"))
    with pytest.raises(hpconfig.ConfigError) as refused:
        hpconfig.read(path)
    assert str(refused.value).startswith(f"{path}:{line}: {message}"), str(refused.value)


def bad(tmp_path, old, new):
    path = tmp_path / "bad.yaml"
    assert old in SMALL
    path.write_text(SMALL.replace(old, new, 1))
    return path


def test_the_command_refuses_a_bad_config_before_any_trial(tmp_path):
    path = bad(tmp_path, "parameterName: hp-conv3", "parameterName: hp-conv4")
    done = run("search.hptune", "--config", path, "--study-dir", tmp_path / "study", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    line = SMALL.splitlines().index("      - parameterName: hp-conv3") + 1
    assert f"{path}:{line}: parameterName 'hp-conv4'" in done.stderr
    assert not (tmp_path / "study").exists()  # nothing written
    resume = run("search.hptune", "--config", os.path.join(MLENGINE, "config-hptune-small.yaml"), "--study-dir",
                 tmp_path / "none", "--resume", timeout=60)
    assert resume.returncode == 1 and "there is no study 'config-hptune-small' to resume" in resume.stderr


FLAGS = ["--config", "--study", "--study-dir", "--storage", "--resume", "--report", "--parallel", "--seed",
         "--stale-after"]


def run_light(*flags):
    """The command with Python's import log on: -> (exit code, stderr without the log, imported top modules)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "search.hptune", *map(str, flags)],
                          cwd=MLENGINE, env=ENV, capture_output=True, text=True, timeout=60)
    lines = done.stderr.splitlines()
    imported = {line.split("|")[-1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    return done, [line for line in lines if not line.startswith("import time:")], imported


def test_help_lists_every_flag_without_importing_optuna_or_tensorflow():
    done, errors, imported = run_light("--help")
    assert done.returncode == 0 and not errors
    for flag in FLAGS:
        assert flag in done.stdout
    assert "optuna" not in imported and "tensorflow" not in imported


SMALL_PATH = os.path.join(MLENGINE, "config-hptune-small.yaml")


@pytest.mark.parametrize("flags, message", [
    ([], "give --config FILE"),
    (["--config", "nope.yaml"], "--config nope.yaml: no such file"),
    (["--parallel", "0"], "--parallel must be >= 1, got 0"),
    (["--parallel", "two"], "argument --parallel: invalid int value: 'two'"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["--stale-after", "0"], "--stale-after must be a number of seconds > 0, got 0.0"),
    (["--stale-after", "soon"], "argument --stale-after: invalid float value: 'soon'"),
    (["--storage", "hp.db"], "--storage 'hp.db' is not an SQL URL"),
    (["--storage", "mysql://me@db/hp"], "keeps the parallel cap on PostgreSQL and SQLite only"),
    (["--storage", "sqlite://"], "is an in-memory database that no other driver can see"),
    (["--study", "../elsewhere"], "--study '../elsewhere': letters, digits"),
    (["--study-dir", "A_FILE"], "is a file, not a folder"),
    (["--study-dir", "A_FILE/study"], "A_FILE is a file, not a folder"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--", "--hp-conv1", "8"], "the trial flags after -- set --hp-conv1, which the search sets"),
    (["--", "--job-dir=x"], "the trial flags after -- set --job-dir, which the search sets"),
    (["--", "--hp-iterations", "-3"], "the trainer says: --hp-iterations must be positive, got -3"),
    (["--", "--checkpoint-every", "x"], "the trainer says: argument --checkpoint-every: invalid int value"),
    (["--", "--hp-dropout", "1.5"], "the trainer says: --hp-dropout must be in [0, 1), got 1.5"),
])
def test_a_bad_flag_value_is_one_line_exit_2_before_optuna_or_tensorflow(tmp_path, flags, message):
    flags = [f.replace("A_FILE", str(tmp_path / "a-file")) for f in flags]
    message = message.replace("A_FILE", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    if flags and flags[0] != "--config":  # the small config, and a study dir that must stay unwritten
        flags = ["--config", SMALL_PATH, *([] if "--study-dir" in flags else ["--study-dir", tmp_path / "study"]),
                 *flags]
    done, errors, imported = run_light(*flags)
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert errors[0].startswith("python -m search.hptune: error: ") and message in errors[0], errors[0]
    assert "optuna" not in imported and "tensorflow" not in imported
    assert not (tmp_path / "study").exists()  # nothing written


def test_a_read_only_study_dir_is_one_line_before_optuna(tmp_path):
    """A --study-dir the driver cannot write ended in an OSError traceback once Optuna had loaded."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount is what stops it
        mount_tmpfs(str(folder), "ro,size=1m")
    else:
        folder.chmod(0o555)
    try:
        done, errors, imported = run_light("--config", SMALL_PATH, "--study-dir", folder / "study")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    why = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    assert done.returncode == 2 and errors == [f"python -m search.hptune: error: --study-dir {folder}/study: cannot "
                                               f"write in {folder} ({why}) (see --help)"], done.stderr
    assert "optuna" not in imported and "tensorflow" not in imported


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path):
    """--storage on a database with another program's `studies` table: Optuna added its 12 tables beside it,
    then failed. Refused now, before anything is written."""
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY, title TEXT)")
        conn.execute("INSERT INTO studies (title) VALUES ('a thesis')")
    done = run("search.hptune", "--config", SMALL_PATH, "--study-dir", tmp_path / "study", "--storage",
               f"sqlite:///{db}", timeout=120)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f"hptune: --storage sqlite:///{db} holds another program's tables (studies): give an empty database, or "
        "the one of an Optuna study"], done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("studies",)]
        assert conn.execute("SELECT title FROM studies").fetchall() == [("a thesis",)]


@pytest.mark.slow
def test_a_postgresql_server_that_never_answers_is_one_line(tmp_path):
    """A listener that accepts connections and never says a word (a wrong port, a hung server): hptune waited
    for ever, printing nothing. libpq's connect_timeout, 10 s, then one line."""
    pytest.importorskip("psycopg")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the connections; nobody answers them
        url = f"postgresql://hptune:secret@127.0.0.1:{silent.getsockname()[1]}/hptune"
        t0 = time.monotonic()
        done = run("search.hptune", "--config", SMALL_PATH, "--study-dir", tmp_path / "study", "--storage", url,
                   timeout=120)
        took = time.monotonic() - t0
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr[-3000:]
    assert done.stderr.startswith(f"hptune: cannot open --storage {url.replace('secret', '***')}: ") and \
        "(no answer within 10 s" in done.stderr and "secret" not in done.stderr, done.stderr
    assert took < 60, took


@pytest.mark.slow
def test_a_resumed_search_with_a_seed_draws_new_settings(tmp_path):
    """--seed, 2 trials, then --resume to 4: the sampler continues where it was, not from its start."""
    two = (TINY.replace("maxTrials: 4", "maxTrials: 2")
           .replace('"100", "--checkpoint-every", "50"', '"10", "--checkpoint-every", "10"'))
    config, study_dir = tmp_path / "tiny.yaml", tmp_path / "study"
    config.write_text(two)
    flags = ["--config", config, "--study-dir", study_dir, "--seed", "3"]
    first = run("search.hptune", *flags, timeout=400)
    assert first.returncode == 0, first.stdout + first.stderr
    config.write_text(two.replace("maxTrials: 2", "maxTrials: 4"))  # maxTrials may change on resume
    again = run("search.hptune", *flags, "--resume", timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    settings = [tuple(sorted(t.params.items())) for t in study_trials(study_dir)]
    assert len(settings) == 4 and len(set(settings)) == 4, settings


def test_pruning_waits_for_half_of_the_steps():
    """A 300-step trial tested every 100: never pruned at its first test (step 100), however bad; from
    step 200 on, pruned when worse than the median."""
    from search import hptrials
    optuna = hptrials.quiet_optuna()
    spec = hpconfig.read(SMALL_PATH)
    study = hptrials.open_study(optuna.storages.InMemoryStorage(), "prune", spec, False,
                              hptrials.warmup_steps(300))
    for value in (0.3, 0.5):  # two finished trials: the median rule's start-up
        trial = study.ask()
        for step in (100, 200):
            trial.report(value, step)
        study.tell(trial, value)
    bad = study.ask()
    bad.report(5.0, 100)
    assert not bad.should_prune()  # the first test: too early to tell (results/warmup-300.json)
    bad.report(5.0, 200)
    assert bad.should_prune()


@pytest.mark.parametrize("flags, message", [
    (["--help"], None),
    ([], "the following arguments are required: --out"),
    (["--out", "OUT", "--trials", "2"], "--trials must be at least 4"),
    (["--out", "OUT", "--every", "200"], "--iterations must hold at least 3 tests of --every steps"),
    (["--out", "OUT", "--every", "0"], "--iterations must hold at least 3 tests of --every steps"),
    (["--out", "OUT", "--trials", "many"], "argument --trials: invalid int value: 'many'"),
    (["--out", "OUT", "--analyse"], "--analyse reads --out OUT: no such file"),
])
def test_the_warmup_curves_command_help_and_bad_flags(tmp_path, flags, message):
    """python -m search.warmup (the evidence behind the warm-up): --help, and each bad value in one line."""
    out = str(tmp_path / "curves.json")
    done = run("search.warmup", *[out if f == "OUT" else f for f in flags], timeout=60)
    message = message and message.replace("OUT", out)
    if message is None:
        assert done.returncode == 0 and all(f in done.stdout for f in ("--trials", "--every", "--analyse"))
        return
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())  # nothing written
