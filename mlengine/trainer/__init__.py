"""The course's training job on TensorFlow 2: flags in, a job directory out (checkpoints, summaries, metrics,
the SavedModel that serving/ loads). Run from mlengine/:

    python -m trainer.task --job-dir JOB       # train, checkpoint, summarise, export; resumable

The repository root (for `import mnistdata`) is on sys.path through serving/__init__.py.
"""
from serving import REPO_ROOT  # noqa: F401  (and with it the repository root on sys.path: mnistdata, visualiser)

BATCH = 100  # the global batch: every step trains on 100 examples, whatever the number of workers
