"""Multi-worker training of the job (trainer.distribute, trainer.launch): 2 local workers against one,
a worker killed with kill -9 and the job recovering, and the launcher's one-line errors.

Tolerance of the comparison with one worker: the two runs are not the same computation (each worker's batch
norm normalises its 50 examples with their own statistics, and dropout masks are drawn per worker), so they
agree only within run-to-run noise. With --hp-lr2 100 the learning rate has settled by step 300 and the test
accuracy of such runs lies within about 1 point of each other (measured: 96.7% one worker, 97.8% two); the
test allows 2.5 points. What must be exact: the two workers end with the same variables (their
fingerprints), and a job killed and restarted ends with exactly the uninterrupted job's variables.
"""
import functools
import json
import os
import re
import signal
import socket
import subprocess

import pytest

from mlengine_helpers import ENV, MLENGINE, command, run, scratch, wait_for

from trainer import cluster

FLAGS = ["--hp-iterations", "300", "--checkpoint-every", "100", "--hp-lr2", "100"]


@functools.cache
def two_workers():
    job = os.path.join(scratch("distributed"), "two")
    done = run("trainer.task", "--workers", "2", "--job-dir", job, *FLAGS)
    assert done.returncode == 0, done.stdout + done.stderr
    return job, done.stdout


def metrics(job):
    return json.load(open(os.path.join(job, "metrics.json")))


@pytest.mark.slow
def test_two_workers_agree_with_each_other_and_with_one_worker():
    one = os.path.join(scratch("distributed"), "one")
    done = run("trainer.task", "--job-dir", one, *FLAGS)
    assert done.returncode == 0, done.stdout + done.stderr
    job, out = two_workers()
    a, b = metrics(one), metrics(job)
    assert b["workers"] == 2 and a["workers"] == 1 and b["step"] == 300
    assert re.search(r"\[worker 1\] worker 1 done: fingerprint " + b["fingerprint"], out), out[-3000:]
    assert b["fingerprint"] != a["fingerprint"]  # not the single worker's computation...
    assert a["test_accuracy"] > 0.95 and b["test_accuracy"] > 0.95, (a, b)
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.025, (a, b)  # ...but the same within noise
    assert b["export_accuracy"] == b["test_accuracy"]
    # the chief alone wrote the job directory (worker 1's temporary folder is gone)
    assert sorted(os.listdir(job)) == ["checkpoints", "config.json", "eval", "export", "lock", "metrics.json",
                                       "train"]
    assert [line for line in out.splitlines() if "test accuracy" in line and "[worker 1]" in line] == []


@pytest.mark.slow
def test_a_worker_killed_with_kill_9_is_restarted_and_the_job_ends_as_if_uninterrupted():
    job = os.path.join(scratch("distributed"), "killed")
    proc = subprocess.Popen(command("trainer.task", "--workers", "2", "--job-dir", job, *FLAGS), cwd=MLENGINE,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if m := re.match(r"\[launcher\] worker 1: pid (\d+)", line):
            victim = int(m.group(1))
            break
    latest = os.path.join(job, "checkpoints", "checkpoint")
    wait_for(lambda: os.path.exists(latest) and 'ckpt-100"' in open(latest).read(), 240, "checkpoint 100")
    os.kill(victim, signal.SIGKILL)
    out = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    assert "worker 1 was killed (SIGKILL)" in out and "restarting all 2 from the last checkpoint" in out
    assert "resuming from" in out and "all 2 workers finished" in out
    assert "Traceback" not in out and "GRPC" not in out, out[-3000:]  # the launcher's line says it all
    resumed, whole = metrics(job), metrics(two_workers()[0])
    assert resumed["resumed_from"] >= 100
    for key in ("test_accuracy", "test_loss", "correct", "fingerprint"):
        assert resumed[key] == whole[key], key


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster' object"),
    ('{"cluster": {"worker": ["localhost:1"]}}', "no 'task' object"),
    ('{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 2}}',
     "task.index is 2, outside the 2 worker task(s)"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "not 'host:port'"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "this job uses only chief and worker"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task.type is 'chief'"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "appears twice"),
])
def test_a_malformed_tf_config_is_refused_in_one_line(text, message):
    with pytest.raises(cluster.ClusterError, match=re.escape(message)):
        cluster.parse(text)


def test_tf_config_roles():
    two = {"worker": ["a:1", "b:2"]}
    role = cluster.parse(json.dumps({"cluster": two, "task": {"type": "worker", "index": 1}}))
    assert (role.workers, role.index, role.is_chief) == (2, 1, False)
    chief = cluster.parse(json.dumps({"cluster": dict(two, chief=["c:3"]), "task": {"type": "chief"}}))
    assert (chief.workers, chief.index, chief.is_chief) == (3, 0, True)
    assert cluster.from_env({}) == cluster.SINGLE


def test_the_job_refuses_a_bad_tf_config_and_a_busy_port_without_a_traceback():
    bad = subprocess.run(command("trainer.task", "--job-dir", scratch("never")), cwd=MLENGINE,
                         env=dict(ENV, TF_CONFIG='{"cluster": {}}'), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["trainer: TF_CONFIG has no 'task' object; fix TF_CONFIG or "
                                               "unset it to train on one machine"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        free = cluster.free_ports(1)[0]
        done = run("trainer.task", "--workers", "2", "--ports", f"{free},{port}", "--job-dir", scratch("never"),
                   timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"trainer: port {port} is busy") and len(done.stderr.splitlines()) == 1
    assert os.listdir(scratch("never")) == []  # nothing half-written
