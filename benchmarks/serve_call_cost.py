"""What one prediction costs inside the service, piece by piece (not a test): the SavedModel called through
its serving_default concrete function (what serving.serve uses) and through the restored tf.function, for
1 and 32 images, and the JSON parse of a one-image body with orjson and with the standard library.

    python benchmarks/serve_call_cost.py --model-dir runs/mlengine/job [--repeat 500]
"""
import argparse
import json
import os
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "mlengine"))


def us(fn, repeat):
    fn()  # warm
    return round(1e6 * min(timeit.repeat(fn, number=repeat, repeat=3)) / repeat, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--repeat", type=int, default=500)
    args = p.parse_args(argv)
    import numpy as np
    import tensorflow as tf
    from serving import export
    folder = export.find_export(args.model_dir)
    loaded = tf.saved_model.load(folder)
    signature = loaded.signatures["serving_default"]
    x1, x32 = np.random.rand(1, 28, 28).astype(np.float32), np.random.rand(32, 28, 28).astype(np.float32)
    result = {"model": folder, "microseconds_per_call": {
        "signature, 1 image": us(lambda: signature(image=tf.constant(x1)), args.repeat),
        "signature, 32 images": us(lambda: signature(image=tf.constant(x32)), args.repeat),
        "restored tf.function, 1 image": us(lambda: loaded.serve(tf.constant(x1)), args.repeat),
    }}
    with open(os.path.join(ROOT, "mlengine", "digits.json")) as f:
        body = json.dumps({"instances": [json.loads(f.readline())]}).encode()
    parse = {"json": us(lambda: json.loads(body), args.repeat)}
    try:
        import orjson
        parse["orjson"] = us(lambda: orjson.loads(body), args.repeat)
    except ImportError:
        pass
    result["microseconds_to_parse_a_one_image_body"] = parse
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
