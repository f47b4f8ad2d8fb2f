"""Serving the job's SavedModel: the export (written by the job, loaded here), local prediction and the
TF-Serving-style REST service with its draw-a-digit page. Run from mlengine/:

    python -m serving.predict --model-dir JOB --json-instances digits.json
    python -m serving.serve --model-dir JOB    # http://127.0.0.1:8501/

This is the one place that puts the repository root on sys.path, so that `import mnistdata` (the repository's
one IDX reader, which the steps share) and visualiser's TensorFlow import without its start-up chatter work
from mlengine/ as from anywhere: mlengine is run from its own folder, as the course's `trainer` package was,
not installed. The job and the search import serving (the export, this), so they have it too. (The tests
import through pyproject.toml's pytest pythonpath instead.)
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
