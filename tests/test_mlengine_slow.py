"""The accuracy gate of the cloud part, in the slow tier (`-m "not slow"` leaves it out): the default job,
3,000 steps, about 2 minutes on 2 cores.

Measured 99.39% (seeds 0-2: 99.39-99.42%, mlengine/README.md); the gate sits a little below, so that another
CPU's rounding passes and a broken network, schedule, data order or shift fails (without the shifts the job
makes 99.32%, with Keras's default initialisation 99.25%)."""
import json
import os

import pytest

from mlengine_helpers import run, scratch


@pytest.mark.slow
def test_the_default_job_reaches_its_measured_accuracy():
    job = os.path.join(scratch("jobs"), "default")
    done = run("trainer.task", "--job-dir", job, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    metrics = json.load(open(os.path.join(job, "metrics.json")))
    assert metrics["step"] == 3000 and metrics["export_accuracy"] == metrics["test_accuracy"]
    assert metrics["test_accuracy"] >= 0.9935, metrics
