"""TensorFlow loaded without the start-up lines that mean nothing to the user, and nothing else hidden.

The `tensorflow` wheel (built with CUDA) on a machine without an NVIDIA driver prints, whatever
TF_CPP_MIN_LOG_LEVEL says (tensorflow 2.21, measured):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    (those two twice: once per library that looks for CUDA while `import tensorflow` runs)
    E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ... (303)
                                          (when the devices are first listed)

The libraries log before TensorFlow has read its log level, so TF_CPP_MIN_LOG_LEVEL=3 hides only the cuInit
line, and CUDA_VISIBLE_DEVICES (empty or -1) none. So these lines are filtered out of file descriptor 2 while
TensorFlow loads and lists its devices, and only on a machine without an NVIDIA driver: where a driver is
present, the same lines say why a GPU goes unused (the CUDA libraries missing: `pip install
'tensorflow[and-cuda]'`), and all are shown. oneDNN's notice ("oneDNN custom operations are on ...", an INFO
line some CPUs get) is dropped everywhere. tensorflow-cpu prints none of these; any other line passes.
Used by every command that imports TensorFlow: the steps (visualiser/startup.py) and mlengine's job, search
and service.
"""
import contextlib
import glob
import os
import re
import sys
import threading

# Abseil's log prefix: severity letter, MMDD, time, thread id, then file:line]
_PREFIX = rb"[IWEF]\d{4} [\d:.]+ +\d+ "
ALWAYS = [rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
          _PREFIX + rb"port\.cc:\d+\] oneDNN custom operations are on"]
WITHOUT_DRIVER = [_PREFIX + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
                  _PREFIX + rb"cuda_(platform|driver|executor)\.cc:\d+\] failed call to cuInit"]


def nvidia_driver():
    """Whether this machine has an NVIDIA driver loaded (then TensorFlow's CUDA lines may matter)."""
    return os.path.exists("/proc/driver/nvidia/version") or bool(glob.glob("/dev/nvidia[0-9]*"))


def chatter():
    """The compiled pattern of the lines to drop on this machine."""
    return re.compile(b"|".join(ALWAYS + ([] if nvidia_driver() else WITHOUT_DRIVER)))


def import_tensorflow():
    """`import tensorflow`, its devices listed (where the cuInit line comes from), with fd 2 filtered.
    TF_CPP_MIN_LOG_LEVEL defaults to 2 (TensorFlow's own INFO and WARNING lines: CPU features, ...)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr(chatter()):
        import tensorflow as tf
        tf.config.list_physical_devices()
    return tf


@contextlib.contextmanager
def filtered_stderr(drop):
    """Within: every line written to file descriptor 2 (by Python or by C++ libraries) goes through a pipe
    and a thread that passes on all but those matching `drop`. The pipe is made 1 MB where Linux allows, so
    that a library writing while it holds the GIL never waits for the thread."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    read, write = os.pipe()
    with contextlib.suppress(AttributeError, OSError):
        import fcntl
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 1 << 20)
    os.dup2(write, 2)
    os.close(write)

    def pump():
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                if not drop.match(line):
                    with contextlib.suppress(OSError):  # stderr closed or gone: nowhere to say it
                        os.write(saved, line)
    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the thread reads to its end and stops
        thread.join(5)
        os.close(saved)
