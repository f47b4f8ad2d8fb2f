"""The course's training job on TensorFlow 2: flags in, a job directory out (checkpoints, summaries, metrics,
the SavedModel that serving/ loads). Run from mlengine/:

    python -m trainer.task --job-dir JOB       # train, checkpoint, summarise, export; resumable

This is the one place that puts the repository root on sys.path, so that `import mnistdata` (the
repository's one IDX reader, which the steps share) works from mlengine/ as from anywhere: mlengine is run
from its own folder, as the course's `trainer` package was, not installed. (The tests import through
pyproject.toml's pytest pythonpath instead.)
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 100  # the global batch: every step trains on 100 examples, whatever the number of workers
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
