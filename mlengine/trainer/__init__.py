"""The course's cloud part on TensorFlow 2: a training job (task), its SavedModel (export), local prediction
(predict) and an online prediction service with a draw-a-digit page (serve). Run from mlengine/:

    python -m trainer.task --job-dir JOB       # train, checkpoint, summarise, export; resumable
    python -m serving.predict --model-dir JOB --json-instances digits.json
    python -m serving.serve --model-dir JOB    # http://127.0.0.1:8501/

The one place that puts the repository root on sys.path, so that `import mnistdata` (the repository's one
IDX reader) works from mlengine/ as from anywhere else.
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
# Most of TensorFlow's C++ start-up chatter (CPU features, ...) off, so the job's own lines show; errors still do.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
