"""Which SavedModel a --model-dir names: a SavedModel folder, a base path of versions (JOB/export, TF Serving's
layout) or a job directory, whose highest version is the one served. No TensorFlow: predict and serve check
--model-dir with it before TensorFlow loads (seconds)."""
import os


class ModelDirError(Exception):
    """A --model-dir with no usable SavedModel: predict and serve say why, in one line."""


def find_export(path):
    """The SavedModel folder that `path` names (see above), or ModelDirError."""
    path = os.path.expanduser(str(path))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    for base in (path, os.path.join(path, "export")):
        versions = [d for d in os.listdir(base) if d.isdigit()] if os.path.isdir(base) else []
        versions = [d for d in versions if os.path.exists(os.path.join(base, d, "saved_model.pb"))]
        if versions:
            return os.path.join(base, max(versions, key=int))
    raise ModelDirError(f"no SavedModel in {path}: give --model-dir a job directory (trained by "
                        "`python -m trainer.task --job-dir ...`), its export/ folder or one export/N/ in it")
