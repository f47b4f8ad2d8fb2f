"""Tier 2 and 3: the real command line in a subprocess, every user mistake, and accuracy gates."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from mnistlab.runs import RunDir, RunError, read_events

QUIET = ("--display", "none")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1.0 run at the course's 2,000 steps: the accuracy gate, and a model for eval/predict."""
    run = tmp_path_factory.mktemp("runs") / "softmax"
    p = run_cli("train", "1.0", "--run-dir", run, *QUIET, check=True)
    assert "max test accuracy" in p.stdout
    return run


def test_softmax_reaches_the_course_accuracy(trained):
    s = json.loads((trained / "summary.json").read_text())
    assert s["iterations"] == 2000 and s["status"] == "completed"
    assert s["max_test_accuracy"] >= 0.915  # the course: about 92%
    assert s["time_to_accuracy"]["0.92"] is not None or s["max_test_accuracy"] < 0.92
    config = json.loads((trained / "config.json").read_text())
    assert config["recipe"]["lr_max"] == 0.5 and config["versions"]["torch"]


@pytest.mark.slow
def test_a_short_convolutional_run_clears_98(tmp_path):
    p = run_cli("train", "3.0", "--iterations", "800", "--eval-every", "400", "--run-dir", tmp_path / "r", *QUIET,
                check=True)
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["max_test_accuracy"] >= 0.975, p.stdout


def test_list_names_every_step():
    out = run_cli("list", check=True).stdout
    for step in ("1.0", "2.2", "3.1", "4.2"):
        assert step in out
    assert "99.5%" in out


def test_eval_prints_accuracy_per_digit_and_confusion(trained):
    res = json.loads(run_cli("eval", trained, "--json", check=True).stdout)
    confusion = np.array(res["confusion"])
    assert confusion.sum() == 10000 and confusion.sum(1).tolist()[:3] == [980, 1135, 1032]
    assert res["test_accuracy"] == pytest.approx(np.trace(confusion) / 10000)
    assert res["test_accuracy"] == pytest.approx(json.loads((trained / "summary.json").read_text())["final_test_accuracy"])
    text = run_cli("eval", trained, check=True).stdout
    assert "confusion matrix" in text and "per class" in text


def test_predict_reads_real_pictures_and_reports_bad_ones(trained, tmp_path, mnist):
    paths = []
    for i in range(10):  # test digits drawn dark-on-light and 4x larger, as a scan would be
        a = 255 - (mnist.test_x[i, 0].numpy() * 255).astype(np.uint8)
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(a).resize((112, 112), Image.BILINEAR).save(path)
        paths.append(path)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    p = run_cli("predict", trained, *paths[:5], tmp_path / "empty.png", tmp_path / "text.png",
                tmp_path / "missing.png", *paths[5:], "--json")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 3
    assert "empty" in p.stderr and "not a readable" in p.stderr and "no such file" in p.stderr
    answers = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(answers) == 10 and all(len(a["probabilities"]) == 10 for a in answers)
    right = sum(a["class"] == int(mnist.test_y[i]) for i, a in enumerate(answers))
    assert right >= 8  # the softmax model is 92% accurate on MNIST's own digits


def test_unknown_recipe_lists_the_valid_names(tmp_path):
    p = run_cli("train", "5.0", "--run-dir", tmp_path / "r", *QUIET)
    assert p.returncode == 2 and "unknown recipe '5.0'" in p.stderr and "conv_bigger_dropout" in p.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flags, words", [
    (("--iterations", "-5"), "--iterations must be a positive"),
    (("--lr-max", "0"), "--lr-max must be > 0"),
    (("--dropout", "1"), "--dropout is a drop probability"),
    (("--batch-size", "60001"), "larger than the training set"),
    (("--no-such-field", "3"), "unrecognized arguments"),
    (("--iterations", "ten"), "invalid int value"),
    (("--channels", "4,x"), "comma-separated"),
])
def test_invalid_overrides_are_usage_errors(tmp_path, flags, words):
    p = run_cli("train", "1.0", *flags, "--run-dir", tmp_path / "r", *QUIET)
    assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "r" / "config.json").exists()


def test_run_dir_problems_are_reported_before_training(tmp_path, trained, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = run_cli("train", "1.0", "--run-dir", blocker / "run", *QUIET)
    assert p.returncode == 1 and "cannot write to run dir" in p.stderr
    p = run_cli("train", "1.0", "--run-dir", trained, *QUIET)
    assert p.returncode == 1 and "already holds a run" in p.stderr and "--resume" in p.stderr
    import shutil
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(RunError, match="MiB free"):
        RunDir.create(tmp_path / "full", {})
    p = run_cli("train", "--resume", trained, *QUIET)
    assert p.returncode == 1 and "already completed" in p.stderr


def test_divergence_exits_non_zero_with_advice(tmp_path):
    p = run_cli("train", "2.1", "--lr-max", "1e30", "--iterations", "50", "--run-dir", tmp_path / "r", *QUIET)
    assert p.returncode == 1 and "diverged" in p.stderr and "at step" in p.stderr and "learning rate" in p.stderr
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "diverged"


def test_checkpoints_never_unpickle_objects(tmp_path, trained):
    import shutil
    import torch
    run = tmp_path / "evil"
    shutil.copytree(trained, run)

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"model": Boom()}, run / "checkpoint.pt")
    p = run_cli("eval", run)
    assert p.returncode == 1 and "cannot be loaded" in p.stderr
    assert not (tmp_path / "pwned").exists()


RESUMABLE = ("train", "2.2", "--iterations", "900", "--checkpoint-every", "300", "--eval-every", "300")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "whole"
    run_cli(*RESUMABLE, "--run-dir", run, *QUIET, check=True)
    return run


def _train_until_checkpoint(run, sig):
    """Start a CLI training, wait for its first checkpoint, then send `sig`."""
    cmd = [sys.executable, "-m", "mnistlab", *RESUMABLE, "--run-dir", str(run), "--display", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and '"type":"checkpoint"' in metrics.read_text():
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _curve(path):
    events, _ = read_events(path)
    return [(e.kind, e.step, e.loss, e.accuracy) for e in events if e.kind in ("train", "test")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_cli_run_resumes_to_identical_metrics(tmp_path, sig, uninterrupted):
    whole = uninterrupted
    run = tmp_path / "cut"
    code, err = _train_until_checkpoint(run, sig)
    if code == 0:
        pytest.skip("the run finished before the signal arrived")
    if sig == signal.SIGINT:
        assert code == 130 and "mnistlab train --resume" in err
    else:
        assert code == -signal.SIGKILL
    run_cli("train", "--resume", run, *QUIET, check=True)
    assert _curve(run / "metrics.jsonl") == _curve(whole / "metrics.jsonl")
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
