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

from visualiser import quiet

from . import digits, modeldir


class InputError(Exception):
    """An input file that cannot be read or holds no digit: main says why, in one line."""


def read_json_instances(path):
    """The instances of a JSON-lines file or of one JSON document -> float32 [N, 28, 28]."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not JSON: not even UTF-8 text") from None
    try:
        doc = json.loads(text)
        instances = doc["instances"] if isinstance(doc, dict) and "instances" in doc else doc
        if isinstance(doc, dict) and "instances" not in doc:
            instances = [doc]  # a JSON-lines file of one instance
    except ValueError:
        try:
            instances = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise InputError(f"{path} is neither JSON nor JSON lines ({e})") from None
    try:
        return digits.from_instances(instances, max_instances=1_000_000)
    except digits.BadInput as e:
        raise InputError(f"{path}: {e}") from None


def read_images(paths):
    import numpy as np
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            out.append(digits.picture_image(data, path))
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}") from None
        except digits.BadInput as e:
            raise InputError(str(e)) from None
    return np.stack(out)


def table(classes, predictions):
    """The course's output: a CLASSES column and a PREDICTIONS column of the ten probabilities."""
    lines = ["CLASSES  PREDICTIONS"]
    for c, p in zip(classes, predictions):
        lines.append(f"{int(c):<8} [{', '.join(f'{v:.4f}' for v in p)}]")
    return "\n".join(lines)


def main(argv=None):
    """The command: a flag's mistake is argparse's line (exit code 2); bad input or a --model-dir without a
    SavedModel is said here in one line (exit code 1)."""
    p = argparse.ArgumentParser(prog="python -m serving.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True,
                   help="a job directory, its export/ folder, or one SavedModel (export/N)")
    p.add_argument("--json-instances", help="file of JSON instances {\"image\": 28x28 in 0..1}, one a line")
    p.add_argument("--images", nargs="+", default=[], metavar="FILE",
                   help=f"picture files of one digit each ({digits.FORMAT_NAMES})")
    args = p.parse_args(argv)
    if not args.json_instances and not args.images:
        p.error("give --json-instances FILE and/or --images FILE ...")
    try:
        return predict(args)
    except (InputError, modeldir.ModelDirError) as e:
        print(f"predict: {e}", file=sys.stderr)
        return 1


def predict(args):
    import numpy as np
    parts = ([read_json_instances(args.json_instances)] if args.json_instances else [])
    parts += [read_images(args.images)] if args.images else []
    x = np.concatenate(parts)
    folder = modeldir.find_export(args.model_dir)  # a wrong --model-dir in one line, before TensorFlow loads
    tf = quiet.import_tensorflow()  # seconds: after the input and --model-dir have been checked
    from . import export
    folder, fn = export.load(folder)
    out = fn(image=tf.constant(x))
    print(f"model: {folder}", file=sys.stderr)
    print(table(out["classes"].numpy(), out["predictions"].numpy()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
