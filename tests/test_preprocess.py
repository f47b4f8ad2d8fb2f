"""Pictures of digits -> MNIST's 28x28 format: polarity, size, centring, transparency and bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mnistlab.preprocess import ImageError, load_digit, open_image, to_mnist


def _png(a: np.ndarray, mode="L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("dark_on_light", [False, True])
def test_an_mnist_digit_comes_back_as_itself(mnist, dark_on_light):
    original = mnist.test_x[0, 0].numpy()
    big = np.asarray(Image.fromarray((original * 255).astype(np.uint8)).resize((200, 200), Image.BICUBIC))
    if dark_on_light:
        big = 255 - big
    out = load_digit(_png(big))
    assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.corrcoef(out.ravel(), original.ravel())[0, 1] > 0.8


def test_fitted_in_20x20_and_centred_by_mass():
    a = np.full((300, 100), 255, np.uint8)
    a[20:280, 40:60] = 0  # a tall dark stroke on white, far from centre
    out = to_mnist(a)
    rows, cols = np.nonzero(out > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    ys, xs = np.indices(out.shape)
    assert abs((ys * out).sum() / out.sum() - 14) < 1 and abs((xs * out).sum() / out.sum() - 14) < 1


def test_transparent_canvas_strokes():
    rgba = np.zeros((100, 100, 4), np.uint8)  # a canvas: transparent, with black ink
    rgba[20:80, 45:55] = (0, 0, 0, 255)
    out = load_digit(_png(rgba, "RGBA"))
    assert out.max() == pytest.approx(1.0, abs=0.05) and out[0, 0] == 0


@pytest.mark.parametrize("data, words", [(b"", "empty"), (b"GIF89a nonsense", "not a readable"),
                                         (_png(np.full((50, 50), 255, np.uint8)), "blank")])
def test_bad_images(data, words):
    with pytest.raises(ImageError, match=words):
        load_digit(data)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="directory"):
        open_image(tmp_path)
