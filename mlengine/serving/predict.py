"""Local prediction with the exported model, as the course's `gcloud ml-engine local predict` did.

    python -m serving.predict --model-dir JOB --json-instances digits.json
    python -m serving.predict --model-dir JOB --images seven.png three.jpg

--json-instances takes one JSON instance per line (`{"image": 28x28 numbers in 0..1}`, gcloud's format),
or one JSON document: a list of instances or `{"instances": [...]}`. --images takes picture files of a
digit (any size, either polarity), made into 28x28 as MNIST was made (see digits.py).
Prints a CLASSES / PREDICTIONS table, one line per instance, in the order given.
"""
import argparse
import json
import sys

from . import digits, modeldir


def read_json_instances(path):
    """The instances of a JSON-lines file or of one JSON document -> float32 [N, 28, 28]."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise SystemExit(f"serving.predict: cannot read {path}: {e.strerror}")
    try:
        doc = json.loads(text)
        instances = doc["instances"] if isinstance(doc, dict) and "instances" in doc else doc
        if isinstance(doc, dict) and "instances" not in doc:
            instances = [doc]  # a JSON-lines file of one instance
    except ValueError:
        try:
            instances = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise SystemExit(f"serving.predict: {path} is neither JSON nor JSON lines ({e})")
    try:
        return digits.from_instances(instances, max_instances=1_000_000)
    except digits.BadInput as e:
        raise SystemExit(f"serving.predict: {path}: {e}")


def read_images(paths):
    import numpy as np
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            out.append(digits.picture_image(data, path))
        except OSError as e:
            raise SystemExit(f"serving.predict: cannot read {path}: {e.strerror}")
        except digits.BadInput as e:
            raise SystemExit(f"serving.predict: {e}")
    return np.stack(out)


def table(classes, predictions):
    """The course's output: a CLASSES column and a PREDICTIONS column of the ten probabilities."""
    lines = ["CLASSES  PREDICTIONS"]
    for c, p in zip(classes, predictions):
        lines.append(f"{int(c):<8} [{', '.join(f'{v:.4f}' for v in p)}]")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m serving.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True,
                   help="a job directory, its export/ folder, or one SavedModel (export/N)")
    p.add_argument("--json-instances", help="file of JSON instances {\"image\": 28x28 in 0..1}, one a line")
    p.add_argument("--images", nargs="+", default=[], metavar="FILE", help="PNG/JPEG files of one digit each")
    args = p.parse_args(argv)
    if not args.json_instances and not args.images:
        p.error("give --json-instances FILE and/or --images FILE ...")
    import numpy as np
    parts = ([read_json_instances(args.json_instances)] if args.json_instances else [])
    parts += [read_images(args.images)] if args.images else []
    x = np.concatenate(parts)
    folder = modeldir.find_export(args.model_dir)  # a wrong --model-dir in one line, before TensorFlow loads
    from . import export  # TensorFlow: after the input has been checked
    import tensorflow as tf
    folder, fn = export.load(folder)
    out = fn(image=tf.constant(x))
    print(f"model: {folder}", file=sys.stderr)
    print(table(out["classes"].numpy(), out["predictions"].numpy()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
