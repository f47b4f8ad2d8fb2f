"""The hyperparameter search (trainer.hptune on Optuna): a search of tiny trials, 2 at once, killed with
kill -9 and resumed to its maxTrials trials with none lost, its report and plot; bad configs refused with
the file and line at fault."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the helpers, in any import mode
from mlengine_helpers import ENV, MLENGINE, command, run, wait_for  # noqa: E402

from trainer import hpconfig  # noqa: E402

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


def test_a_search_killed_with_kill_9_resumes_to_all_its_trials_and_reports(tmp_path):
    config, study_dir = tmp_path / "tiny.yaml", tmp_path / "study"
    config.write_text(TINY)
    flags = ["--config", config, "--study-dir", study_dir, "--seed", "1"]
    log = open(tmp_path / "first.log", "w")
    driver = subprocess.Popen(command("trainer.hptune", *flags), cwd=MLENGINE, env=ENV, stdout=log,
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

    again = run("trainer.hptune", *flags)  # without --resume: refused, in one line
    assert again.returncode == 1 and "exists already: add --resume" in again.stderr and "Traceback" not in again.stderr
    done = run("trainer.hptune", *flags, "--resume", timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "its driver is gone; marked failed and queued again" in done.stdout
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
    alone = run("trainer.hptune", *flags, "--report")
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
    assert str(refused.value).startswith(f"hptune: {path}:{line}: {message}"), str(refused.value)


def bad(tmp_path, old, new):
    path = tmp_path / "bad.yaml"
    assert old in SMALL
    path.write_text(SMALL.replace(old, new, 1))
    return path


def test_the_command_refuses_a_bad_config_before_any_trial(tmp_path):
    path = bad(tmp_path, "parameterName: hp-conv3", "parameterName: hp-conv4")
    done = run("trainer.hptune", "--config", path, "--study-dir", tmp_path / "study", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    line = SMALL.splitlines().index("      - parameterName: hp-conv3") + 1
    assert f"{path}:{line}: parameterName 'hp-conv4'" in done.stderr
    assert not (tmp_path / "study").exists()  # nothing written
    resume = run("trainer.hptune", "--config", os.path.join(MLENGINE, "config-hptune-small.yaml"), "--study-dir",
                 tmp_path / "none", "--resume", timeout=60)
    assert resume.returncode == 1 and "there is no study 'config-hptune-small' to resume" in resume.stderr


def test_trial_flags_after_the_double_dash_may_not_set_what_the_search_sets(tmp_path):
    from trainer import hptune
    config = os.path.join(MLENGINE, "config-hptune-small.yaml")
    for flag in ("--hp-conv2=20", "--job-dir"):
        with pytest.raises(hpconfig.ConfigError, match=f"after -- set {flag.split('=')[0]}, which the search"):
            hptune.main(["--config", config, "--study-dir", str(tmp_path / "study"), "--", flag, "x"])
    assert not (tmp_path / "study").exists()  # refused before the storage was opened
