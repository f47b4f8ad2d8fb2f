"""The training job when things go wrong around it, through its command line: Ctrl-C and SIGTERM during
the start-up. Each ends in one line, and loses nothing that was saved."""
import os
import shutil
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the helpers, in any import mode
from mlengine_helpers import SHORT, own_lines, scratch, start, wait_for  # noqa: E402


def leftovers(job):
    """Half-written things: TensorFlow's ckpt-N_temp/, the export's .tmp-*, write_json's .tmp-*."""
    return [os.path.join(d, n) for d, dirs, files in os.walk(job) for n in dirs + files
            if n.endswith("_temp") or ".tmp-" in n or n.startswith(".tmp")]


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
