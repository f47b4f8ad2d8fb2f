"""The course's hyperparameter search on Optuna: trials are training jobs (`python -m trainer.task`). Run
from mlengine/:

    python -m search.hptune --config config-hptune-small.yaml
"""
