"""The training job when things go wrong around it, through its command line: a damaged checkpoint, a job
directory that fills up, two jobs on one job directory, Ctrl-C and SIGTERM during the start-up. Each ends
in one line (or goes on, saying so in one line), and loses nothing that was saved."""
import json
import os
import shutil
import signal
import socket
import subprocess

import pytest

from mlengine_helpers import (SHORT, loaded_tensorflow, mount_tmpfs, own_lines, run,
                              run_counting_imports, scratch, start, trained_job, wait_for)


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
