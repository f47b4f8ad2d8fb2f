"""`mnistlab tune`: the search-space file, workers sharing one study, a worker killed mid-trial, and the
report's command reproducing the best trial."""
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from mnistlab.cli import main  # noqa: E402
from mnistlab.recipes import get_recipe  # noqa: E402
from mnistlab.space import SpaceError, check_against, load_space, parse_space  # noqa: E402

SPACE = "[lr_max]\nlow = 0.05\nhigh = 1.0\nlog = true\n"
SHORT = ["--iterations", "30", "--eval-every", "10"]  # softmax: well under a second of training per trial


def tune(tmp_path, *args):
    """A `mnistlab tune` worker process, started in tmp_path."""
    return subprocess.Popen([sys.executable, "-m", "mnistlab", "tune", "1.0", "--space", "space.toml",
                             "--storage", "study.log", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def trials(tmp_path, storage="study.log"):
    from mnistlab.tune import load_study, open_storage
    url = storage if "://" in storage else str(tmp_path / storage)
    return load_study(open_storage(url, create=False), url, None).get_trials()


def test_default_space_mirrors_the_course_and_samples_valid_recipes():
    params, _ = load_space(None)
    assert {p.field for p in params} == {"channels", "lr_max", "lr_decay_steps", "dropout"}
    for step in ("3.0", "3.1"):
        check_against(params, get_recipe(step))
    trial = optuna.trial.FixedTrial({"channels.0": 15, "channels.1": 38, "channels.2": 64, "lr_max": 0.004,
                                     "lr_decay_steps": 2000.0, "dropout": 0.25})
    values = {p.field: p.suggest(trial) for p in params}
    assert values["channels"] == (15, 38, 64)
    assert not get_recipe("3.1").replace(**values).problems()


def test_choices_of_tuples_and_ints():
    params = parse_space('[channels]\nchoices = [[4, 8, 12], [15, 38, 64]]\n[dense]\nchoices = [100, 200]\n')
    trial = optuna.trial.FixedTrial({"channels": "15,38,64", "dense": 100})
    assert [p.suggest(trial) for p in params] == [(15, 38, 64), 100]


@pytest.mark.parametrize("text, message", [
    ("[lr_maxx]\nlow = 1\nhigh = 2\n", "not a recipe field"),
    ("[lr_max]\nlo = 0.1\nhigh = 2\n", "unknown key lo"),
    ("[lr_max]\nlow = 0.1\nhigh =\n", "not valid TOML"),
    ("[lr_max]\nlow = 0.5\nhigh = 0.1\n", "above high"),
    ("[lr_max]\nlow = 0\nhigh = 0.1\nlog = true\n", "log = true needs low > 0"),
    ("[channels]\nlow = [4, 8]\nhigh = [24, 48, 64]\n", "same length"),
    ("[iterations]\nlow = 1.5\nhigh = 100\n", "whole numbers"),
    ("[optimizer]\nlow = 1\nhigh = 2\n", "text field"),
    ("lr_max = 0.1\n", "must be a table"),
    ("", "names no field"),
])
def test_a_bad_space_file_is_refused_with_its_reason(text, message):
    with pytest.raises(SpaceError, match=message):
        parse_space(text)


def test_bad_space_or_storage_fails_before_any_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("[dropout]\nlow = 0.1\nhigh = 1.0\n")  # dropout 1.0: no recipe
    (tmp_path / "space.toml").write_text(SPACE)
    cases = [(["3.1", "--space", "bad.toml", "--storage", "s.log"], "gives an invalid"),
             (["3.1", "--storage", "sqlite:////no/such/dir/s.db"], "cannot open"),
             (["3.1", "--storage", "postgresql://nobody@127.0.0.1:1/none"], "--storage postgresql"),
             (["3.1", "--storage", "ftp://host/s"], "unknown scheme"),
             (["1.0", "--storage", "s.log"], "default space tunes the conv recipes"),
             (["1.0", "--space", "space.toml", "--lr-max", "0.1", "--storage", "s.log"], "both fixed"),
             (["1.0", "--space", "space.toml", "--storage", "s.log", "--trials", "0"], "--trials N")]
    for args, message in cases:
        code = main(["tune", *args, *(["--trials", "1"] if "--trials" not in args else [])])
        assert code == 2 and message in capsys.readouterr().err, args
    assert not (tmp_path / "runs").exists() and not (tmp_path / "s.log").exists()
    assert main(["tune", "--report", "--storage", "s.log"]) == 2  # a report does not create a storage


def test_two_workers_share_one_study_and_the_report_reproduces_the_best(tmp_path, monkeypatch, capsys):
    (tmp_path / "space.toml").write_text(SPACE)
    workers = [tune(tmp_path, "--trials", "3", *SHORT), tune(tmp_path, "--trials", "2", *SHORT)]
    for w in workers:
        out, err = w.communicate(timeout=180)
        assert w.returncode == 0, err[-2000:]
    done = trials(tmp_path)
    assert sorted(t.number for t in done) == [0, 1, 2, 3, 4]  # exactly the sum, distinct numbers
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in done)
    assert len({t.user_attrs["worker"]["pid"] for t in done}) == 2  # both workers took part
    assert sorted(p.name for p in (tmp_path / "runs" / "tune-softmax").iterdir()) == \
        [f"trial-{n:04d}" for n in range(5)]  # each trial an ordinary run dir

    monkeypatch.chdir(tmp_path)  # the report and the reproduction run in this process: no start-up cost
    capsys.readouterr()
    assert main(["tune", "--report", "--storage", "study.log"]) == 0
    report = capsys.readouterr().out
    best = max((t for t in done if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert f"best: trial {best.number}, max test accuracy {best.value:.4f}" in report
    command = report.split("reproduce: ", 1)[1].strip()
    assert main([*shlex.split(command)[1:], "--display", "none", "--run-dir", "again"]) == 0
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["max_test_accuracy"] == best.value  # same recipe, seed and CPU: the same run


def test_a_worker_killed_mid_trial_leaves_a_usable_study(tmp_path, monkeypatch, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"  # the database storage: also Optuna's heartbeat
    (tmp_path / "space.toml").write_text(SPACE)
    long = ["--iterations", "500", "--eval-every", "25"]
    args = ["--storage", storage, "--trials", "3", *long]
    victim = subprocess.Popen([sys.executable, "-m", "mnistlab", "tune", "1.0", "--space", "space.toml", *args],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "runs" / "tune-softmax" / "trial-0000" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and '"test"' in metrics.read_text()):  # mid-trial: past its first test
        assert time.time() < deadline and victim.poll() is None
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert [t.state.name for t in trials(tmp_path, storage)] == ["RUNNING"]

    monkeypatch.chdir(tmp_path)  # a later worker, in this process
    assert main(["tune", "1.0", "--space", "space.toml", *args[:2], "--trials", "1", *long]) == 0
    states = {t.number: t.state.name for t in trials(tmp_path, storage)}
    assert states[0] == "FAIL" and states[1] in ("COMPLETE", "PRUNED")
    assert main(["tune", "--report", "--storage", storage]) == 0
    assert "1 fail" in capsys.readouterr().out


def test_a_pruned_trial_stops_its_run_at_the_test_that_pruned_it(tmp_path):
    from mnistlab.tune import run_trial

    class Trial:  # the part of optuna.Trial that run_trial uses; prunes at its second report
        number, reports = 0, []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) == 2
    trial = Trial()
    with pytest.raises(optuna.TrialPruned):
        run_trial(trial, "1.0", {"iterations": 100, "eval_every": 20}, tmp_path / "run", "cpu")
    assert [step for step, _ in trial.reports] == [20, 40]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["iterations"] == 40  # stopped, resumable
