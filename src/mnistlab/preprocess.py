"""Any picture of a digit -> a 28x28 MNIST-like image, the way MNIST itself was made.

MNIST digits are light ink on a dark background, size-normalised to fit a 20x20 box (keeping the aspect
ratio, anti-aliased to grey levels) and centred by centre of mass in a 28x28 field. `mnistlab predict`,
the prediction service and the draw-a-digit page all go through `to_mnist`, so they see the same input.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np


class ImageError(Exception):
    """The input is not a usable image of a digit; the message says why."""


def open_image(source: str | Path | bytes):
    """A PIL image from a path or raw bytes, flattened onto white if it has transparency."""
    from PIL import Image, UnidentifiedImageError
    try:
        if isinstance(source, (bytes, bytearray)):
            if not source:
                raise ImageError("empty image data")
            img = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if path.is_file() and path.stat().st_size == 0:
                raise ImageError(f"{path}: empty file")
            img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise ImageError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{source}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{source}: permission denied") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        name = "image data" if isinstance(source, (bytes, bytearray)) else str(source)
        raise ImageError(f"{name}: not a readable PNG/JPEG image ({type(e).__name__})") from None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert("L")


def to_mnist(image) -> np.ndarray:
    """(28, 28) float32 in [0, 1], light digit on black, from a PIL image or a 2-D array of grey levels
    (dark-on-light or light-on-dark; any size)."""
    from PIL import Image
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ImageError(f"expected a 2-D grey image, got shape {a.shape}")
    if a.max() > 1.0:
        a = a / 255.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: flip to MNIST's light-on-dark
        a, background = 1.0 - a, 1.0 - background
    a = np.clip(a - background, 0, None)
    peak = float(a.max())
    if peak < 0.1:
        raise ImageError("no digit found: the image is blank (or has almost no contrast)")
    a = a / peak
    rows, cols = np.nonzero(a > 0.1)
    a = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = a.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    a = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize(size, Image.LANCZOS), dtype=np.float32) / 255
    out = np.zeros((28, 28), np.float32)
    ys, xs = np.indices(a.shape)
    mass = a.sum()
    cy, cx = (ys * a).sum() / mass, (xs * a).sum() / mass
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top, left = min(max(top, 0), 28 - a.shape[0]), min(max(left, 0), 28 - a.shape[1])
    out[top:top + a.shape[0], left:left + a.shape[1]] = a
    return np.clip(out, 0, 1)


def load_digit(source: str | Path | bytes) -> np.ndarray:
    return to_mnist(open_image(source))
