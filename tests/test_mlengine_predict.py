"""Local prediction: digits.json and picture files through `python -m serving.predict`; the MNIST-style
preprocessing of pictures and the checks on JSON instances (digits.py), against known cases; TensorFlow's
start-up lines filtered (quiet.py)."""
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from mlengine_helpers import ENV, MLENGINE, mnist_test_labels, run, scratch, trained_job

from serving import digits

DIGITS_JSON = os.path.join(MLENGINE, "digits.json")


def mnist_test_digit(i):
    import mnistdata
    return mnistdata.read_data_sets(None, one_hot=False).test.images[i, :, :, 0]


def png(array, size=None, invert=False, fmt="PNG"):
    """A picture file of a 0..1 array: scaled up, dark ink on white if invert."""
    from PIL import Image
    a = 1 - array if invert else array
    img = Image.fromarray(np.round(a * 255).astype(np.uint8))
    if size:
        img = img.resize(size, Image.BICUBIC)
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def centre_of_mass(a):
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def test_make_digits_rebuilds_the_shipped_file():
    out = os.path.join(scratch("digits"), "digits.json")
    done = run("make_digits", "--out", out, timeout=60)
    assert done.returncode == 0, done.stderr
    assert open(out).read() == open(DIGITS_JSON).read()


def test_predict_prints_classes_and_predictions_for_digits_json_and_pictures(tmp_path):
    from make_digits import first_of_each_class
    labels = mnist_test_labels()
    indices = first_of_each_class(labels)
    # (not digits.json's 3: an ambiguous digit, 51% a 3 for a 300-step model, that a stretched copy can flip)
    seven, six = mnist_test_digit(indices[7]), mnist_test_digit(indices[6])
    (tmp_path / "seven.png").write_bytes(png(seven, (300, 300), invert=True))      # dark on light, big
    (tmp_path / "six.jpg").write_bytes(png(six, (90, 120), fmt="JPEG"))            # light on dark, JPEG
    done = run("serving.predict", "--model-dir", trained_job()[0], "--json-instances", DIGITS_JSON,
               "--images", tmp_path / "seven.png", tmp_path / "six.jpg", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["CLASSES", "PREDICTIONS"] and len(lines) == 1 + 10 + 2
    classes, probabilities = [], []
    for line in lines[1:]:
        m = re.fullmatch(r"(\d)\s+\[(.*)\]", line)
        assert m, line
        classes.append(int(m.group(1)))
        probabilities.append([float(v) for v in m.group(2).split(",")])
    probabilities = np.array(probabilities)
    assert probabilities.shape == (12, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    assert classes == list(probabilities.argmax(1))
    assert sum(c == d for c, d in zip(classes[:10], range(10))) >= 8, classes  # a 300-step model: ~93%
    assert classes[10:] == [7, 6], classes


def test_predict_says_what_is_wrong_with_its_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"image": [[0.5] * 28] * 27}) + "\n")
    done = run("serving.predict", "--model-dir", tmp_path, "--json-instances", bad, timeout=60)
    assert done.returncode != 0 and "expected 28 rows of 28 numbers, got shape [27, 28]" in done.stderr
    done = run("serving.predict", "--model-dir", tmp_path, "--json-instances", DIGITS_JSON, timeout=60)
    assert done.returncode != 0 and "no SavedModel in" in done.stderr


def test_a_picture_becomes_28x28_as_mnist_was_made():
    for i in (0, 1, 2, 18):
        original = mnist_test_digit(i)
        for picture in (png(original, (280, 280)), png(original, (200, 400), invert=True),
                        png(original, (56, 56), fmt="JPEG"), png(original, (3000, 2000))):  # reduced first
            x = digits.picture_image(picture)
            assert x.shape == (28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
            rows, cols = np.nonzero(x > 0.1)
            assert np.ptp(rows) < 21 and np.ptp(cols) < 21            # fits 20x20
            assert max(np.ptp(rows), np.ptp(cols)) >= 17              # and fills it along its longer side
            cy, cx = centre_of_mass(x)
            assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx)
        same = digits.picture_image(png(original, (280, 280)))
        assert np.corrcoef(same.ravel(), original.ravel())[0, 1] > 0.85  # MNIST itself is made this way
        flipped = digits.picture_image(png(original, (280, 280), invert=True))
        np.testing.assert_allclose(flipped, same, atol=0.02)        # either polarity, the same digit


def test_pictures_that_are_not_digits_are_refused_with_a_status():
    from PIL import Image
    cases = [(b"", 415), (b"GIF89a not really", 415), (open(DIGITS_JSON, "rb").read(200), 415)]
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, "PNG")
    cases.append((blank.getvalue(), 422))
    huge = io.BytesIO()
    Image.new("L", (6000, 5000), 0).save(huge, "PNG")  # 30 megapixels in a small file
    cases.append((huge.getvalue(), 413))
    for data, status in cases:
        with pytest.raises(digits.BadInput) as e:
            digits.picture_image(data)
        assert e.value.status == status, (str(e.value), status)


GOOD = [[0.0] * 28 for _ in range(28)]


@pytest.mark.parametrize("instance, message", [
    ([[0.5] * 28] * 27, "got shape [27, 28]"),
    ([0.5] * 784, "got shape [784]"),
    ([[0.5] * 28] * 27 + [[0.5] * 27], "different lengths"),
    ([["0.5"] * 28] * 28, "found strings"),
    ([[None] * 28] * 28, "null, objects"),
    ([[True] * 28] * 28, "found true/false"),
    ([[0] * 27 + [True]] + [[0] * 28] * 27, "found true/false among them"),    # numpy reads it as 1
    ([[0.5] * 28] * 27 + [[False] + [0.5] * 27], "found true/false among them"),
    ([[float("nan")] * 28] * 28, "NaN or infinite"),
    ([[float("inf")] * 28] * 28, "NaN or infinite"),
    ([[255] * 28] * 28, "divide 0..255 grey levels by 255"),
    ([[-0.1] * 28] * 28, "values must be in 0..1"),
    ({"img": GOOD}, 'expected {"image"'),
    ({"image": GOOD, "key": 1}, 'expected {"image"'),
    (7, "got shape []"),
])
def test_bad_instances_are_refused_with_a_message(instance, message):
    with pytest.raises(digits.BadInput, match=re.escape(message)):
        digits.from_instances([instance], max_instances=10)


def test_instance_counts_and_formats():
    assert digits.from_instances([GOOD, {"image": GOOD}], 10).shape == (2, 28, 28)
    assert digits.from_inputs({"image": [GOOD] * 3}, 10).shape == (3, 28, 28)
    assert digits.from_inputs([GOOD], 10).shape == (1, 28, 28)
    with pytest.raises(digits.BadInput, match="no instances"):
        digits.from_instances([], 10)
    with pytest.raises(digits.BadInput, match="too many instances: 11") as e:
        digits.from_instances([GOOD] * 11, 10)
    assert e.value.status == 413
    with pytest.raises(digits.BadInput, match="must be a list"):
        digits.from_instances({"image": GOOD}, 10)


# TensorFlow's start-up lines as the `tensorflow` wheel (CUDA-built, 2.21) prints them on a machine without an
# NVIDIA driver, whatever TF_CPP_MIN_LOG_LEVEL says (visualiser/quiet.py says where each comes from)
CUDA_WHEEL_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796479216.273941   20054 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
    "will not be used.",
    "E0000 00:00:1796479222.591524   21106 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
]
FILTER = """
import os, sys
import serving  # the repository root on sys.path, as for every mlengine command
from visualiser import quiet
if sys.argv[1] == "driver":
    quiet.nvidia_driver = lambda: True
with quiet.filtered_stderr(quiet.chatter()):
    for line in sys.argv[2:]:
        os.write(2, line.encode() + b"\\n")  # as C++ writes: to the file descriptor, not sys.stderr
    print("and Python's own line", file=sys.stderr)
"""


@pytest.mark.parametrize("machine", ["no driver", "driver"])
def test_the_cuda_wheels_start_up_lines_are_dropped_only_without_a_driver(machine):
    real = "E0000 00:00:1796479222.6 21106 some_op.cc:12] a real error, which passes"
    done = subprocess.run([sys.executable, "-c", FILTER, machine, *CUDA_WHEEL_LINES, real], cwd=MLENGINE, env=ENV,
                          capture_output=True, text=True, timeout=60)
    kept = CUDA_WHEEL_LINES[1:] if machine == "driver" else []  # with a driver, they may say why a GPU goes unused
    assert done.returncode == 0 and done.stderr.splitlines() == kept + [real, "and Python's own line"], done.stderr


CUDA_PYTHON = os.environ.get("MLENGINE_CUDA_PYTHON")  # a python with the `tensorflow` wheel (not tensorflow-cpu)


@pytest.mark.skipif(not CUDA_PYTHON, reason="set MLENGINE_CUDA_PYTHON to a python whose TensorFlow is the CUDA wheel")
def test_predict_prints_no_start_up_lines_with_the_cuda_wheel():
    done = subprocess.run([CUDA_PYTHON, "-m", "serving.predict", "--model-dir", trained_job()[0], "--json-instances",
                           DIGITS_JSON], cwd=MLENGINE, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 11, done.stderr
    assert done.stderr.splitlines() == [f"model: {trained_job()[0]}/export/300"], done.stderr
