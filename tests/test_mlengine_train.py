"""The training job (mlengine/trainer): flags, data order, job directory, resume after kill -9, export; the
printed lines' one pattern. (No import circles: tests/test_layout.py, for the whole repository.)"""
import dataclasses
import glob
import json
import os
import re
import signal
import subprocess

import numpy as np
import pytest

from mlengine_helpers import (ENV, MLENGINE, ROOT, SHORT, command, run, scratch, trained_job,
                              wait_for)

from trainer import cluster, jobdir, lines, task


def test_the_flags_become_one_frozen_job():
    job = task.Job.from_args(task.parser().parse_args(["--job-dir", "j", "--hp-conv1", "8", "--seed", "3"]))
    assert (job.job_dir, job.iterations, job.seed, job.role, job.checkpoint_every) == ("j", 3000, 3, cluster.SINGLE, 200)
    assert job.hp["conv1"] == 8 and job.hp["shift"] == 1 and "iterations" not in job.hp
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.seed = 4
    with pytest.raises(TypeError):
        job.hp["conv1"] = 9


def test_the_jobs_lines_parse_back_to_its_metrics():
    job, out = trained_job()
    tests = [m for m in map(lines.TEST_LINE.match, out.splitlines()) if m]
    trains = [m for m in map(lines.TRAIN_LINE.match, out.splitlines()) if m]
    assert [int(m["step"]) for m in tests] == [int(m["step"]) for m in trains] == [100, 200, 300]
    final = json.load(open(os.path.join(job, "metrics.json")))
    assert (float(tests[-1]["accuracy"]), float(tests[-1]["loss"])) == (round(final["test_accuracy"], 4),
                                                                       round(final["test_loss"], 4))
    assert lines.TEST_LINE.search("[worker 0] " + tests[0].group(0))["step"] == "100"  # the launcher's prefix


def test_the_printed_lines_patterns_are_written_once():
    """The search, the warm-up study and the distributed benchmark read the job's lines through trainer.lines;
    a second copy of a pattern would drift from the line the job prints."""
    for folder in (MLENGINE, os.path.join(ROOT, "benchmarks")):
        for path in glob.glob(os.path.join(folder, "**", "*.py"), recursive=True):
            if path != lines.__file__:
                assert not re.search(r"test (accuracy|loss): ?\(", open(path).read()), path  # a parser's group


def test_the_job_prints_the_courses_hyperparameters():
    """The job starts by printing its tunable hyperparameters, as the original did: the course's defaults
    (CODELAB.md), and a changed one with its default beside it."""
    course = {"iterations": "3000", "lr0": "0.02", "lr1": "0.0001", "lr2": "600", "dropout": "0.3", "conv1": "6",
              "conv2": "12", "conv3": "24", "bnexp": "0.993"}
    printed = dict(re.findall(r"^  --hp-(\w+) +(\S+)", trained_job()[1], re.M))
    assert printed == {**course, "iterations": "300", "shift": "1"}, printed
    assert re.search(r"^  --hp-iterations 300 +\(default 3000\)$", trained_job()[1], re.M)
    args = task.parser().parse_args([])
    assert (args.checkpoint_every, args.summary_every) == (200, 10)  # the course's, as mlengine/README says


def test_bad_flags_are_refused_before_tensorflow_loads():
    done = run("trainer.task", "--job-dir", scratch("bad-flags"), "--hp-dropout", "1.5")
    assert done.returncode == 2 and "--hp-dropout must be in [0, 1)" in done.stderr


def test_learning_rate_decays_from_lr0_plus_lr1_to_lr1():
    from trainer.model import CourseDecay
    decay = CourseDecay(0.02, 0.0001, 600)  # the course's lr = lr1 + lr0 * exp(-step / lr2)
    assert float(decay(0)) == pytest.approx(0.0201)
    assert float(decay(600)) == pytest.approx(0.0001 + 0.02 / np.e)
    assert float(decay(6000)) == pytest.approx(0.0001, abs=1e-6)


def test_batches_are_a_pure_function_of_seed_and_step():
    from trainer.train import train_batches
    n = 250  # not a multiple of the batch: batches straddle epochs
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 28, 28, 1), np.float32)
    labels = np.eye(10, dtype=np.float32)[np.arange(n) % 10]
    ids = lambda ds: [X[:, 0, 0, 0].numpy().astype(int).tolist() for X, _ in ds]  # noqa: E731
    whole = ids(train_batches(images, labels, seed=3, start_step=0, end_step=10))
    assert ids(train_batches(images, labels, seed=3, start_step=6, end_step=10)) == whole[6:]
    flat = np.concatenate(whole)  # 1,000 positions = 4 epochs, each a permutation of the 250 examples
    for e in range(4):
        assert sorted(flat[e * n:(e + 1) * n]) == list(range(n))
    assert not np.array_equal(flat[:n], flat[n:2 * n])  # a new order every epoch
    other = np.concatenate(ids(train_batches(images, labels, seed=4, start_step=0, end_step=10)))
    assert not np.array_equal(flat, other)


def test_shifts_move_each_digit_whole_and_follow_seed_and_step():
    from trainer.train import shifted, train_batches
    import tensorflow as tf
    X = np.zeros((64, 28, 28, 1), np.float32)
    X[:, 10:18, 12:16] = 1.0  # a block with a 10-pixel margin: any shift of up to 2 keeps all of it
    out = shifted(tf.constant(X), 5, tf.constant(3, tf.int64), 2).numpy()
    assert out.shape == X.shape and np.array_equal(out.sum(axis=(1, 2, 3)), X.sum(axis=(1, 2, 3)))
    moves = set()
    for a, b in zip(X, out):
        (y0, x0), (y1, x1) = np.argwhere(a[..., 0])[0], np.argwhere(b[..., 0])[0]
        moves.add((y1 - y0, x1 - x0))
        assert np.array_equal(np.roll(a, (y1 - y0, x1 - x0), axis=(0, 1)), b)  # moved whole, not distorted
    assert {m for move in moves for m in move} == {-2, -1, 0, 1, 2}        # every offset is drawn
    again = shifted(tf.constant(X), 5, tf.constant(3, tf.int64), 2).numpy()
    other = shifted(tf.constant(X), 5, tf.constant(4, tf.int64), 2).numpy()
    assert np.array_equal(out, again) and not np.array_equal(out, other)
    assert shifted(X, 5, tf.constant(3, tf.int64), 0) is X
    labels = np.eye(10, dtype=np.float32)[np.arange(250) % 10]
    images = np.random.default_rng(0).random((250, 28, 28, 1), np.float32)
    whole = [(x.numpy(), y.numpy()) for x, y in train_batches(images, labels, 3, 0, 6, shift=1)]
    part = [(x.numpy(), y.numpy()) for x, y in train_batches(images, labels, 3, 4, 6, shift=1)]
    plain = [y.numpy() for _, y in train_batches(images, labels, 3, 0, 6)]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(whole[4:], part))  # a resumed job sees the same
    assert all(np.array_equal(a[1], b) for a, b in zip(whole, plain))       # labels untouched


def test_short_job_writes_checkpoints_summaries_metrics_and_export():
    job, out = trained_job()
    assert "Tunable hyperparameters" in out and "--hp-conv2" in out and "--hp-bnexp" in out
    state = open(os.path.join(job, "checkpoints", "checkpoint")).read()
    assert 'model_checkpoint_path: "ckpt-300"' in state
    for step in (100, 200, 300):
        assert os.path.exists(os.path.join(job, "checkpoints", f"ckpt-{step}.index"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    train = EventAccumulator(os.path.join(job, "train"), size_guidance={"tensors": 0}).Reload()
    assert set(train.Tags()["tensors"]) >= {"loss", "accuracy", "learning_rate"}
    assert [e.step for e in train.Tensors("loss")] == list(range(10, 301, 10))
    from tensorflow import make_ndarray
    lr = [float(make_ndarray(e.tensor_proto)) for e in train.Tensors("learning_rate")]
    assert lr[0] == pytest.approx(0.0001 + 0.02 * np.exp(-9 / 600), rel=1e-5) and lr == sorted(lr, reverse=True)
    evals = EventAccumulator(os.path.join(job, "eval"), size_guidance={"tensors": 0}).Reload()
    assert [e.step for e in evals.Tensors("accuracy")] == [100, 200, 300]
    metrics = json.load(open(os.path.join(job, "metrics.json")))
    assert metrics["step"] == 300 and metrics["test_examples"] == 10000
    assert metrics["test_accuracy"] > 0.85, metrics  # 300 steps of the default net: about 93%
    assert metrics["export_accuracy"] == metrics["test_accuracy"]
    assert os.path.exists(os.path.join(job, "export", "300", "saved_model.pb"))
    assert json.load(open(os.path.join(job, "config.json")))["hyperparameters"]["conv3"] == 24


@pytest.mark.slow
def test_kill_and_resume_end_with_the_metrics_of_an_uninterrupted_run():
    job = os.path.join(scratch("jobs"), "interrupted")
    flags = command("trainer.task", "--job-dir", job, *SHORT)
    latest = lambda: open(os.path.join(job, "checkpoints", "checkpoint")).read()  # noqa: E731

    def start_and(stop, after_checkpoint):
        proc = subprocess.Popen(flags, cwd=MLENGINE, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        wait_for(lambda: os.path.exists(os.path.join(job, "checkpoints", "checkpoint"))
                 and f"ckpt-{after_checkpoint}\"" in latest(), 240, f"checkpoint {after_checkpoint}")
        proc.send_signal(stop)
        out = proc.communicate(timeout=60)[0]
        return proc.returncode, out

    # Ctrl-C: the job saves a checkpoint where it stands, says how to resume, exits non-zero
    code, out = start_and(signal.SIGINT, after_checkpoint=100)
    assert code != 0 and "checkpoint saved" in out and "run the same command to resume" in out, out
    # kill -9 right after the next checkpoint, wherever the job is (maybe mid-step, mid-evaluation)
    code, out = start_and(signal.SIGKILL, after_checkpoint=200)
    assert code == -signal.SIGKILL and "resuming from" in out, out
    done = subprocess.run(flags, cwd=MLENGINE, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "resuming from" in done.stdout, done.stdout + done.stderr
    resumed = json.load(open(os.path.join(job, "metrics.json")))
    whole = json.load(open(os.path.join(trained_job()[0], "metrics.json")))
    assert resumed["resumed_from"] >= 200
    for key in ("test_accuracy", "test_loss", "correct", "fingerprint"):
        assert resumed[key] == whole[key], key


def test_another_configuration_is_refused_not_mixed():
    job, _ = trained_job()
    done = run("trainer.task", "--job-dir", job, *SHORT, "--hp-conv1", "8")
    assert done.returncode != 0
    assert "written by another configuration" in done.stderr and "conv1: 6 there, 8 now" in done.stderr
    assert json.load(open(os.path.join(job, "config.json")))["hyperparameters"]["conv1"] == 6


def test_a_folder_that_is_not_a_job_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(jobdir.JobDirError, match="not a job directory"):
        jobdir.claim(str(tmp_path), {"format": 1})
    fresh = tmp_path / "new"
    assert jobdir.claim(str(fresh), {"format": 1, "seed": 0}) is True
    assert jobdir.claim(str(fresh), {"format": 1, "seed": 0}) is False
    with pytest.raises(jobdir.JobDirError, match="seed: 0 there, 1 now"):
        jobdir.claim(str(fresh), {"format": 1, "seed": 1})
    with pytest.raises(jobdir.JobDirError, match="earlier version of the trainer .format 1, now 2"):
        jobdir.claim(str(fresh), {"format": 2, "seed": 0})
    older = tmp_path / "older"  # written when the fingerprint held the labels only: resumed on those
    assert jobdir.claim(str(older), {"format": 1, "data": {"labels_sha256": "a"}}) is True
    assert jobdir.claim(str(older), {"format": 1, "data": {"labels_sha256": "a", "images_sha256": "b"}}) is False
    with pytest.raises(jobdir.JobDirError, match=r"trained on another data set \(data.labels_sha256: 'a' there"):
        jobdir.claim(str(older), {"format": 1, "data": {"labels_sha256": "c", "images_sha256": "b"}})


def test_export_signature_and_its_reloaded_accuracy():
    import tensorflow as tf
    from serving import export
    import mnistdata
    job, _ = trained_job()
    folder, fn = export.load(job)
    assert folder.endswith(os.path.join("export", "300"))
    _, inputs = fn.structured_input_signature
    assert list(inputs) == ["image"]
    assert inputs["image"].shape.as_list() == [None, 28, 28] and inputs["image"].dtype == tf.float32
    outputs = fn.structured_outputs
    assert outputs["predictions"].shape.as_list() == [None, 10] and outputs["predictions"].dtype == tf.float32
    assert outputs["classes"].shape.as_list() == [None] and outputs["classes"].dtype == tf.int64
    test = mnistdata.read_data_sets(None, one_hot=False).test
    scored = export.score(folder, test.images, test.labels)
    metrics = json.load(open(os.path.join(job, "metrics.json")))
    assert scored["correct"] == metrics["correct"]
    out = fn(image=tf.constant(test.images[:50, :, :, 0]))
    np.testing.assert_allclose(out["predictions"].numpy().sum(1), 1, atol=1e-5)
    assert (out["classes"].numpy() == out["predictions"].numpy().argmax(1)).all()
