"""The SavedModel: what TF Serving, Vertex AI, `serving.predict` and `serving.serve` all load.

    signature serving_default
      inputs   image        float32 [None, 28, 28]   0..1, light digit on black (as MNIST, as digits.json)
      outputs  predictions  float32 [None, 10]       the ten probabilities
               classes      int64   [None]           the most probable digit

Layout: JOB/export/N/ after N training steps, i.e. a TF Serving model base path (JOB/export) holding one
version per export; the highest version is the one served.
"""
import os
import shutil

import numpy as np
import tensorflow as tf

from .modeldir import ModelDirError, find_export

SIGNATURE = "serving_default"


class Serving(tf.Module):
    def __init__(self, model):
        super().__init__(name="mnist")
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="image")])
    def serve(self, image):
        probabilities = tf.nn.softmax(self.model(image[..., None], training=False))
        return {"predictions": probabilities, "classes": tf.argmax(probabilities, 1)}


def export(model, job_dir, step):
    """Write JOB/export/<step>/ (to a temporary folder first, renamed when complete); return its path.
    A failed write (a full disk) or a stop request leaves no temporary folder behind."""
    base = os.path.join(job_dir, "export")
    final, tmp = os.path.join(base, str(step)), os.path.join(base, f".tmp-{step}-{os.getpid()}")
    os.makedirs(base, exist_ok=True)
    module = Serving(model)
    try:
        tf.saved_model.save(module, tmp, signatures={SIGNATURE: module.serve})
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load(path):
    """(SavedModel folder, its serving_default concrete function)."""
    folder = find_export(path)
    loaded = tf.saved_model.load(folder)
    if SIGNATURE not in loaded.signatures:
        raise ModelDirError(f"{folder} has no {SIGNATURE} signature (it has {sorted(loaded.signatures)})")
    fn = loaded.signatures[SIGNATURE]
    fn._keep_loaded = loaded  # the function needs its variables, which live as long as `loaded`
    return folder, fn


def score(path, images, labels, batch=1000):
    """Reload the SavedModel and score a test set through its signature: {"accuracy", "correct"}."""
    _, fn = load(path)
    truth = np.argmax(labels, 1) if labels.ndim == 2 else labels
    correct = 0
    for i in range(0, len(images), batch):
        classes = fn(image=tf.constant(images[i:i + batch].reshape(-1, 28, 28)))["classes"].numpy()
        correct += int((classes == truth[i:i + batch]).sum())
    return {"accuracy": correct / len(images), "correct": correct}
