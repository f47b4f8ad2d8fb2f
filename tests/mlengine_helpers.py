"""Shared by the tests/test_mlengine_*.py files: the cloud part's commands run as a user runs them.

A short job (300 steps, checkpoints every 100) is trained once per test session and a service started
once on it, whichever test file asks first (cached here, not in a conftest, so that each file also runs
alone). Processes are stopped by their own pid.
"""
import atexit
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLENGINE = os.path.join(ROOT, "mlengine")

SHORT = ["--hp-iterations", "300", "--checkpoint-every", "100"]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
_scratch = tempfile.mkdtemp(prefix="mlengine-tests-")
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)


def scratch(name):
    path = os.path.join(_scratch, name)
    os.makedirs(path, exist_ok=True)
    return path


def command(module, *flags):
    return [sys.executable, "-m", module, *map(str, flags)]


def run(module, *flags, timeout=300):
    """Run `python -m module flags` from mlengine/ to the end -> CompletedProcess (text)."""
    return subprocess.run(command(module, *flags), cwd=MLENGINE, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def start(module, *flags, stderr=subprocess.STDOUT):
    return subprocess.Popen(command(module, *flags), cwd=MLENGINE, env=ENV, stdout=subprocess.PIPE,
                            stderr=stderr, text=True)


def run_counting_imports(module, *flags, timeout=60):
    """Run `python -X importtime -m module flags` -> (CompletedProcess whose stderr is the program's own,
    the set of modules it imported): what a user's mistake costs before the answer."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command(module, *flags)[1:]], cwd=MLENGINE,
                          env=ENV, capture_output=True, text=True, timeout=timeout)
    imported, own = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[-1].strip())
        else:
            own.append(line + "\n")
    done.stderr = "".join(own)
    return done, imported


def mount_tmpfs(path, options):
    """A tmpfs on path (-o options), or the test skipped with the reason: it needs root, and a container
    may refuse even root (no CAP_SYS_ADMIN). RLIMIT_FSIZE is no substitute for a full disk: it fails
    writes with SIGXFSZ and EFBIG, not ENOSPC."""
    import pytest
    if os.geteuid() != 0:
        pytest.skip("a tmpfs (mount -t tmpfs) needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {(done.stderr.strip().splitlines() or ['?'])[0]}")


def loaded_tensorflow(imported):
    return any(name.split(".")[0] in ("tensorflow", "keras") for name in imported)


TF_CHATTER = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:\d\d)")


def own_lines(text):
    """The program's own lines: without the C++ log lines TensorFlow prints before its log level applies."""
    return [line for line in text.splitlines() if line.strip() and not TF_CHATTER.match(line)]


@functools.cache
def trained_job():
    """(job dir, stdout) of the short job, trained once."""
    job = os.path.join(scratch("jobs"), "uninterrupted")
    done = run("trainer.task", "--job-dir", job, *SHORT)
    assert done.returncode == 0, done.stdout + done.stderr
    return job, done.stdout


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


GS_CALLED = os.path.join(_scratch, "gs-called")


def ghostscript_stand_in():
    """A folder with a `gs` for the service's PATH, standing in for Ghostscript: Pillow's EPS plug-in asks it
    for its version, then hands it the file; this one notes the call in GS_CALLED and hangs for 20 s (as
    `{ } loop` made the real one spin), so a test sees whether an upload reaches it and what that costs."""
    folder = scratch("ghostscript")
    path = os.path.join(folder, "gs")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo 10.0; exit 0; }}\necho "$@" >> {GS_CALLED}\n'
                "sleep 20\nexit 1\n")
    os.chmod(path, 0o755)
    return folder


class Service:
    """`python -m serving.serve --port 0` on the short job; .url once it listens. Its PATH starts with
    ghostscript_stand_in()."""

    def __init__(self, model_dir, *flags):
        env = dict(ENV, PATH=ghostscript_stand_in() + os.pathsep + ENV.get("PATH", ""))
        self.proc = subprocess.Popen(command("serving.serve", "--model-dir", model_dir, "--port", "0", *flags),
                                     cwd=MLENGINE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        for line in self.proc.stdout:
            self.lines.append(line)
            if m := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
                self.url = m.group(1)
                break
        else:
            raise AssertionError("the service did not start:\n" + "".join(self.lines))
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        atexit.register(self.stop)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@functools.cache
def service():
    return Service(trained_job()[0], "--request-timeout", "5")  # test_mlengine_serve's slow clients wait 5 s


def mnist_test_labels():
    """Labels of the MNIST test set (int)."""
    import mnistdata
    return mnistdata.read_data_sets(None, one_hot=False).test.labels
