"""The training job when things go wrong around it, through its command line: a damaged checkpoint, a job
directory that fills up, two jobs on one job directory, Ctrl-C and SIGTERM during the start-up. Each ends
in one line (or goes on, saying so in one line), and loses nothing that was saved."""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess

import numpy as np
import pytest

from mlengine_helpers import (ROOT, SHORT, loaded_tensorflow, mount_tmpfs, own_lines, run,
                              run_counting_imports, scratch, start, trained_job, wait_for)


def inverted_mnist():
    """The MNIST folder with its training images inverted (255 - grey level): the same labels, other pictures."""
    folder = scratch("inverted-mnist")
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        data = gzip.decompress(open(os.path.join(ROOT, "data", name + ".gz"), "rb").read())
        if name == "train-images-idx3-ubyte":  # a 16-byte IDX header, then the pixels
            data = data[:16] + (255 - np.frombuffer(data, np.uint8, offset=16)).tobytes()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    return folder


def test_a_resume_on_another_data_set_is_refused_before_tensorflow_loads():
    """The job's data fingerprint held the labels only: a resume on MNIST with inverted training images was
    accepted, trained on, exported (30.4%)."""
    job = os.path.join(scratch("faults"), "other-data")
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(trained_job()[0], job)  # 300 steps on MNIST
    before = metrics(job)
    done, imported = run_counting_imports("trainer.task", "--job-dir", job, *SHORT, "--hp-iterations", "400",
                                          "--data-dir", inverted_mnist(), timeout=120)
    assert done.returncode == 1 and not loaded_tensorflow(imported), done.stdout[-2000:] + done.stderr[-2000:]
    line, = own_lines(done.stderr)
    assert line.startswith(f"trainer: the job directory {job} was trained on another data set "
                           "(data.images_sha256: ") and line.endswith(
        "give the --data-dir it was trained on, or a new --job-dir"), line
    assert metrics(job) == before and sorted(os.listdir(os.path.join(job, "checkpoints")))[-1] == "ckpt-300.index"


def test_a_run_killed_mid_export_leaves_nothing_once_the_job_runs_again():
    """kill -9 during the export left export/.tmp-N-PID for ever: the next run removes what a dead process of
    this job left half-written, and never a live process's."""
    job = os.path.join(scratch("faults"), "leftovers")
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(trained_job()[0], job)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now: the pid of a killed run
    dead = [os.path.join(job, "export", f".tmp-300-{gone.pid}"), os.path.join(job, f"metrics.json.tmp-{gone.pid}")]
    os.makedirs(dead[0])
    for path in (os.path.join(dead[0], "saved_model.pb"), dead[1]):
        open(path, "w").close()
    live = os.path.join(job, "export", f".tmp-300-{os.getpid()}")  # this test's own: a live process
    os.makedirs(live)
    done = run("trainer.task", "--job-dir", job, *SHORT)
    assert done.returncode == 0 and "already finished at step 300" in done.stdout, done.stdout + done.stderr
    assert [path for path in dead if os.path.exists(path)] == [] and os.path.isdir(live)
    for path in dead:
        assert f"removed {path}, left half-written by a run that was killed" in done.stdout


@pytest.mark.slow
def test_checkpoints_of_another_network_are_refused_in_one_line():
    """Checkpoints written with --hp-conv1 8 in a job directory whose config.json says 6 (copied in by hand,
    say) ended in a ValueError traceback from the restore."""
    other = os.path.join(scratch("faults"), "conv1-8")
    shutil.rmtree(other, ignore_errors=True)
    done = run("trainer.task", "--job-dir", other, "--hp-conv1", "8", "--hp-iterations", "10", "--checkpoint-every", "10")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    job = os.path.join(scratch("faults"), "foreign-checkpoints")
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(trained_job()[0], job, ignore=shutil.ignore_patterns("export", "metrics.json", "checkpoints"))
    shutil.copytree(os.path.join(other, "checkpoints"), os.path.join(job, "checkpoints"))
    done = run("trainer.task", "--job-dir", job, *SHORT)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    line, = own_lines(done.stderr)
    assert line.startswith(f"trainer: checkpoint ckpt-10 in {job}/checkpoints holds another network than this job's "
                           "configuration (") and "conv1: [6, 6, 1, 8] there, [6, 6, 1, 6] here" in line, line
    assert line.endswith("move the checkpoints away, or give a new --job-dir"), line


def metrics(job):
    return json.load(open(os.path.join(job, "metrics.json")))


def same_as_uninterrupted(job):
    whole = metrics(trained_job()[0])
    return all(metrics(job)[key] == whole[key] for key in ("test_accuracy", "test_loss", "correct", "fingerprint"))


def leftovers(job):
    """Half-written things: TensorFlow's ckpt-N_temp/, the export's .tmp-*, write_json's .tmp-*."""
    return [os.path.join(d, n) for d, dirs, files in os.walk(job) for n in dirs + files
            if n.endswith("_temp") or ".tmp-" in n or n.startswith(".tmp")]


@pytest.mark.slow
def test_a_truncated_latest_checkpoint_is_skipped_for_the_newest_readable_one():
    job = os.path.join(scratch("faults"), "truncated")
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(trained_job()[0], job)  # 300 steps, checkpoints 100, 200, 300
    os.remove(os.path.join(job, "metrics.json"))
    shutil.rmtree(os.path.join(job, "export"))
    data = os.path.join(job, "checkpoints", "ckpt-300.data-00000-of-00001")
    os.truncate(data, os.path.getsize(data) // 2)  # as a full disk or a copy cut short leaves it
    done = run("trainer.task", "--job-dir", job, *SHORT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "checkpoint ckpt-300 is unreadable (Read less bytes than requested): resuming from ckpt-200" \
        in done.stdout, done.stdout
    assert "Traceback" not in done.stderr and metrics(job)["resumed_from"] == 200
    assert same_as_uninterrupted(job)  # the 100 steps redone are the same steps


@pytest.mark.slow
def test_a_job_dir_that_fills_up_ends_in_one_line_and_resumes_once_there_is_room():
    disk = scratch("faults-full-disk")
    mount_tmpfs(disk, "size=7m")  # config, summaries and two checkpoints of 2.9 MB fit; the third does not
    try:
        job = os.path.join(disk, "job")
        full = run("trainer.task", "--job-dir", job, *SHORT)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
        line, = own_lines(full.stderr)
        assert line.startswith("trainer: cannot write checkpoint ckpt-") and "(No space left on device)" in line
        assert "free some space, then run the same command to resume" in line, line
        assert leftovers(job) == []
        state = open(os.path.join(job, "checkpoints", "checkpoint")).read()
        assert 'model_checkpoint_path: "ckpt-200"' in state, state
        subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)  # room again
        done = run("trainer.task", "--job-dir", job, *SHORT)
        assert done.returncode == 0 and "resuming from" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
        assert same_as_uninterrupted(job)
    finally:
        subprocess.run(["umount", disk], check=True)


def test_a_second_job_on_a_job_dir_is_refused_and_a_killed_one_does_not_block():
    job = os.path.join(scratch("faults"), "locked")
    flags = ["--job-dir", job, "--hp-iterations", "200", "--checkpoint-every", "100"]
    first = start("trainer.task", *flags)
    try:
        wait_for(lambda: "job dir:" in first.stdout.readline(), 60, "the first job's start")
        second, imported = run_counting_imports("trainer.task", *flags, timeout=120)
        assert second.returncode == 1 and not loaded_tensorflow(imported), second.stdout + second.stderr
        assert own_lines(second.stderr) == [
            f"trainer: the job directory {job} is in use by pid {first.pid} on {socket.gethostname()}: wait for "
            "that job to end (or stop it: it resumes), or give this one another --job-dir"]
    finally:
        first.kill()  # kill -9: the lock dies with the process, its file stays
        first.communicate()
    assert os.path.exists(os.path.join(job, "lock"))
    third = start("trainer.task", *flags)
    try:
        wait_for(lambda: "job dir:" in third.stdout.readline(), 60, "the third job's start (past the lock)")
        assert third.poll() is None
    finally:
        third.kill()
        third.communicate()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_stop_during_the_start_up_ends_in_one_line(stop):
    job = os.path.join(scratch("faults"), f"start-up-{stop.name}")
    shutil.rmtree(job, ignore_errors=True)
    proc = start("trainer.task", "--job-dir", job, *SHORT, stderr=subprocess.PIPE)
    wait_for(lambda: "job dir:" in proc.stdout.readline(), 60, "the job's start")
    proc.send_signal(stop)  # TensorFlow is loading now (seconds)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert own_lines(err) == [f"trainer: stopped ({stop.name}); the job directory keeps its last checkpoint: "
                              "run the same command to go on"], err
    assert leftovers(job) == []
