"""The job directory: what a training job writes, the guard against mixing two configurations in one, and
the lock that keeps two jobs out of one folder. No TensorFlow: the checks run before its import.

    JOB/config.json          the configuration that owns this folder (hyperparameters, seed, data)
    JOB/lock                 the running job's pid and host; locked (flock) while it runs
    JOB/checkpoints/         ckpt-N.* every --checkpoint-every steps, the last 3 kept; `checkpoint` names
                             the latest (TensorFlow rewrites it atomically after the files are complete)
    JOB/train/, JOB/eval/    TensorBoard summaries: loss, accuracy, learning rate; test loss and accuracy
    JOB/metrics.json         the final metrics (written once training ends)
    JOB/export/N/            the SavedModel after N steps (TF Serving's layout: a base path, then versions)

--hp-iterations is not part of the configuration: it only says where to stop, and nothing else depends on
it, so a finished job can be extended (`--hp-iterations 4000` on a 3,000-step job), giving exactly what an
uninterrupted 4,000-step run gives.
"""
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile

import numpy as np

from . import BATCH

# How the job trains what it saves (initialisation, epsilons, --hp-shift, ...). A change that would make a saved
# job resume to other weights than its uninterrupted run gets a new number, so that such a folder is refused.
FORMAT = 2
CONFIG = "config.json"
METRICS = "metrics.json"
LOCK = "lock"
FOLDERS = {"checkpoints": "checkpoints", "train": "training summaries", "eval": "test summaries",
           "export": "exported models"}


class JobDirError(Exception):
    """The job cannot go on with this job directory (or stops there): trainer.task says why, in one line."""


def data_fingerprint(data):
    """Which data set trained the job: its sizes, and hashes of its labels and of every image (the same labels
    with other pictures, MNIST inverted say, are another data set). The images are hashed as they lie in
    memory, 220 MB of float32 for MNIST: 0.4-0.6 s on the 2-core machine at a load average of 11, where reading
    the data took 1.3-3.4 s (mlengine/README gives the command), and TensorFlow's import, which follows, more."""
    labels, images = hashlib.sha256(), hashlib.sha256()
    for part in (data.train, data.test):
        labels.update(part.labels.tobytes())
        images.update(memoryview(np.ascontiguousarray(part.images)).cast("B"))
    return {"train_examples": int(data.train.num_examples), "test_examples": int(data.test.num_examples),
            "labels_sha256": labels.hexdigest()[:16], "images_sha256": images.hexdigest()[:16]}


def make_config(hp, seed, data, batch=BATCH):
    return {"format": FORMAT, "hyperparameters": dict(hp), "seed": int(seed), "batch": int(batch),
            "data": data_fingerprint(data)}


def reason(e):
    """The gist of a failed read or write (an OSError or a TensorFlow error), for a one-line message."""
    text = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e) or type(e).__name__
    for known in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO):
        if os.strerror(known) in text:  # TensorFlow's errors end with the OS's words, after a long path
            return os.strerror(known)
    return text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__


def cannot_write(what, e, state, verb):
    """The JobDirError of a write that failed: what, why, what is kept, and what to do."""
    why = reason(e)
    fix = "free some space" if why in (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT)) else "fix that"
    return JobDirError(f"cannot write {what} ({why}): {state}; {fix}, then run the same command to {verb}")


def write_json(path, obj):
    """Write JSON atomically: a kill at any moment leaves the old file or the new one, never half of one.
    A write that fails (a full disk) leaves the old file too, and stops the job in one line."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise cannot_write(path, e, "the job stops there", "go on") from None
    except BaseException:  # a stop request at once: no half-written file either
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


LEFTOVERS = re.compile(r"(\.tmp-\d+|(config|metrics)\.json\.tmp)-(?P<pid>\d+)")  # export's, write_json's


def clear_leftovers(job_dir, log):
    """Remove what a run of this job killed mid-write (kill -9, a power cut) left: export/.tmp-N-PID/ (a
    SavedModel half written) and config.json.tmp-PID, metrics.json.tmp-PID, when no process PID lives on this
    machine. The job holds the folder's lock, so no other job writes there; a live PID's files stay all the
    same. TensorFlow's checkpoints/ckpt-N_temp/ is its own to redo."""
    for folder in (job_dir, os.path.join(job_dir, "export")):
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            m = LEFTOVERS.fullmatch(name)
            if m and not alive(int(m["pid"])):
                path = os.path.join(folder, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    _remove(path)
                log(f"removed {path}, left half-written by a run that was killed")


def alive(pid):
    """Whether process `pid` lives on this machine (in this pid namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_json(path):
    with open(path) as f:
        return json.load(f)


def differences(old, new, prefix=""):
    """['hyperparameters.conv1: 6 there, 8 now', ...] between two configurations."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, prefix + key + ".")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return out


def claim(job_dir, config, owner=True):
    """Make job_dir this configuration's, or check that it already is. Raises JobDirError otherwise.

    owner=False (a multi-worker job's non-chief workers): only check, never write; the chief owns the folder."""
    path = os.path.join(job_dir, CONFIG)
    if os.path.exists(path):
        try:
            old = read_json(path)
        except (OSError, ValueError) as e:
            raise JobDirError(f"{path} is unreadable ({e}): this job directory is damaged; use a new --job-dir")
        if old.get("format") != config.get("format"):
            raise JobDirError(f"the job directory {job_dir} was written by an earlier version of the trainer "
                              f"(format {old.get('format')}, now {config.get('format')}), whose network trains "
                              "differently: it cannot be resumed; give a new --job-dir")
        if "images_sha256" not in old.get("data", {}) and "data" in config:  # written when labels were all it hashed
            config = dict(config, data={k: v for k, v in config["data"].items() if k != "images_sha256"})
        diff = differences(old, config)
        if diff and all(d.startswith("data.") for d in diff):
            raise JobDirError(f"the job directory {job_dir} was trained on another data set ({'; '.join(diff)}): "
                              "give the --data-dir it was trained on, or a new --job-dir")
        if diff:
            raise JobDirError(f"the job directory {job_dir} was written by another configuration, not mixing "
                              "the two:\n  " + "\n  ".join(diff) + f"\nRepeat that job's flags (saved in {path}) "
                              "to resume it, or give this one a new --job-dir.")
        return False
    if not owner:
        return False
    refuse_foreign(job_dir)
    os.makedirs(job_dir, exist_ok=True)
    write_json(path, config)
    return True


def refuse_foreign(job_dir):
    """JobDirError for a folder that holds files but no config.json: another program's (`--job-dir ~`)."""
    if os.path.isdir(job_dir) and CONFIG not in os.listdir(job_dir) and set(os.listdir(job_dir)) - {LOCK}:
        raise JobDirError(f"{job_dir} is not empty and holds no {CONFIG}: it is not a job directory of "
                          "trainer.task; give a new or empty --job-dir")


def preflight(job_dir):
    """Before TensorFlow loads: JobDirError, in one line, for a --job-dir this job cannot write.

    A file where the folder (or one of its sub-folders) should be, a read-only or unwritable folder (tried
    by creating an empty folder in it: permissions, read-only mounts, root alike), another program's
    folder. Storage TensorFlow reaches by URL (gs://...) is left to TensorFlow."""
    if "://" in job_dir:
        return
    try:
        if os.path.isdir(job_dir):
            refuse_foreign(job_dir)
            for name, what in FOLDERS.items():
                sub = os.path.join(job_dir, name)
                if os.path.exists(sub) and not os.path.isdir(sub):
                    raise JobDirError(f"{sub} is a file, where the job keeps its {what}: move it away, or give "
                                      "another --job-dir")
        folders = [job_dir] + [os.path.join(job_dir, n) for n in FOLDERS if os.path.isdir(os.path.join(job_dir, n))]
        for problem in filter(None, map(unwritable, folders)):
            where, why = problem
            if why is None:
                raise JobDirError(f"--job-dir {job_dir}: {where} is a file, not a folder; give another --job-dir")
            raise JobDirError(f"--job-dir {job_dir}: cannot write in {where} ({why}); give a folder this job can "
                              "write, or another --job-dir")
    except OSError as e:  # a folder that cannot even be listed
        raise JobDirError(f"--job-dir {job_dir}: {e.filename or job_dir}: {reason(e)}; give another --job-dir")


def unwritable(path):
    """Why nothing can be made at `path`, or None: (the deepest folder on its way that exists, None) when that
    is a file, (that folder, the reason) when it refuses a new folder (tried by making and removing one:
    permissions, a read-only mount, root alike)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return folder, None
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=folder))
    except OSError as e:
        return folder, reason(e)
    return None


def lock(job_dir):
    """Hold JOB/lock for as long as this process lives -> its open file (keep it).

    fcntl.flock, so the lock dies with the process, kill -9 included: a stale one never blocks. Another
    job holding it: JobDirError naming its pid and host (written into the file)."""
    if "://" in job_dir:
        return None
    os.makedirs(job_dir, exist_ok=True)
    f = open(os.path.join(job_dir, LOCK), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        f.seek(0)
        holder = f.read().strip() or "another job"
        f.close()
        raise JobDirError(f"the job directory {job_dir} is in use by {holder}: wait for that job to end (or "
                          "stop it: it resumes), or give this one another --job-dir") from None
    f.truncate(0)
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    return f
