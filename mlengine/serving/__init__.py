"""Serving the job's SavedModel: the export (written by the job, loaded here), local prediction and the
TF-Serving-style REST service with its draw-a-digit page. Run from mlengine/:

    python -m serving.predict --model-dir JOB --json-instances digits.json
    python -m serving.serve --model-dir JOB    # http://127.0.0.1:8501/
"""
