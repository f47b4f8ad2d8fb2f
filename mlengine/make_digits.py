"""Make digits.json, the few digits `serving.predict` and the service are tried on.

    cd mlengine && python make_digits.py            # rewrites digits.json (and prints the true labels)

One JSON instance per line, `{"image": 28 rows of 28 numbers in 0..1}`, the format of the course's
digits.json and of gcloud's --json-instances. The digits are the first 0, 1, ..., 9 of the MNIST test set
(not seen in training), rounded to 3 decimals to keep the file small.
"""
import argparse
import json
import os

import trainer  # noqa: F401  (puts the repository root on sys.path)
import mnistdata

HERE = os.path.dirname(os.path.abspath(__file__))


def first_of_each_class(labels):
    """Indices of the first test digit of each class, in class order."""
    return [int(next(i for i, y in enumerate(labels) if y == c)) for c in range(10)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "digits.json"))
    p.add_argument("--data-dir", default=None, help="MNIST-format folder (default: the bundled MNIST)")
    args = p.parse_args(argv)
    try:
        test = mnistdata.read_data_sets(args.data_dir, one_hot=False).test
    except mnistdata.MnistDataError as e:
        p.exit(1, f"{e}\n")
    indices = first_of_each_class(test.labels)
    with open(args.out, "w") as f:
        for i in indices:
            image = [[round(float(v), 3) for v in row] for row in test.images[i, :, :, 0]]
            f.write(json.dumps({"image": image}, separators=(",", ":")) + "\n")
    print(f"{args.out}: test digits {indices}, labels {[int(test.labels[i]) for i in indices]}")


if __name__ == "__main__":
    main()
