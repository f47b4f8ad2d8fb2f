"""Client input -> the export's `image` tensor: float32 [N, 28, 28], 0..1, light digit on black.

Two kinds of input, shared by `serving.predict` and `serving.serve`, so both see the same thing:
- JSON instances, the course's format `{"image": 28 rows of 28 numbers}` (or the bare 28x28 list, as TF
  Serving accepts for a one-input signature). Values must be finite numbers in 0..1; anything else is
  refused with a message saying what to send (grey levels 0..255 must be divided by 255 first: guessing
  the scale would silently give wrong answers for some inputs).
- Picture files (PNG, JPEG, GIF, BMP or WebP; up to MAX_PIXELS; dark on light or light on dark), made into
  28x28 as MNIST was made: the ink cropped, fitted into 20x20 keeping its aspect ratio (anti-aliased), then
  placed in 28x28 with its centre of mass at the centre.
Numpy and (for pictures only) Pillow: no TensorFlow, no web stack.
"""
import io

import numpy as np

MAX_PIXELS = 25_000_000  # a small PNG of one colour can claim 100,000 x 100,000 pixels: refuse, not decode
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # what browsers make and phones save; Pillow's names
FORMAT_NAMES = "PNG, JPEG, GIF, BMP or WebP"
WORKING_SIDE = 1024  # pixels: a picture's longer side beyond this is reduced before it is made into 28x28


class BadInput(ValueError):
    """Input that cannot be a digit; `status` is the HTTP status the service answers with (4xx)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def image_array(value, where, bools=True):
    """One instance's 28x28 numbers -> float32 [28, 28], checked. bools=False: the caller knows that the JSON
    holds no true/false (numpy would read them as 1 and 0 among numbers; looking costs 20-50 us an image)."""
    try:
        a = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # rows of different lengths, numbers too big
        raise BadInput(f"{where}: expected 28 rows of 28 numbers; the rows are of different lengths "
                       "or hold something else") from None
    if a.dtype.kind not in "iuf":
        found = {"b": "true/false", "U": "strings", "O": "null, objects or mixed types"}.get(a.dtype.kind, a.dtype)
        raise BadInput(f"{where}: expected 28 rows of 28 numbers, found {found}")
    if a.shape != (28, 28):
        raise BadInput(f"{where}: expected 28 rows of 28 numbers, got shape {list(a.shape)}")
    if bools and isinstance(value, list) and any(bool in set(map(type, row)) for row in value):
        raise BadInput(f"{where}: expected 28 rows of 28 numbers, found true/false among them")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise BadInput(f"{where}: holds NaN or infinite values; send numbers in 0..1")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 1:
        raise BadInput(f"{where}: values must be in 0..1 (light ink on black), found {lo:g}..{hi:g}; "
                       "divide 0..255 grey levels by 255")
    return a


def instance_image(item, where, input_name="image", bools=True):
    """A row-format instance: {"image": 28x28} or the bare 28x28 list."""
    if isinstance(item, dict):
        if set(item) != {input_name}:
            raise BadInput(f'{where}: expected {{"{input_name}": 28x28 numbers}}, got an object with keys '
                           f"{sorted(item)[:5]}")
        return image_array(item[input_name], f"{where}.{input_name}", bools)
    return image_array(item, where, bools)


def from_instances(instances, max_instances, input_name="image", bools=True):
    """TF Serving's row format, the list under "instances" -> float32 [N, 28, 28]."""
    if not isinstance(instances, list):
        raise BadInput(f'"instances" must be a list of instances, got {type(instances).__name__}')
    check_count(len(instances), max_instances)
    if len(instances) == 1:  # the common case, without np.stack's copy
        return instance_image(instances[0], "instances[0]", input_name, bools)[None]
    return np.stack([instance_image(item, f"instances[{i}]", input_name, bools)
                     for i, item in enumerate(instances)])


def from_inputs(inputs, max_instances, input_name="image", bools=True):
    """TF Serving's columnar format, the value of "inputs": {"image": [N, 28, 28]} or [N, 28, 28] bare."""
    where = "inputs"
    if isinstance(inputs, dict):
        if set(inputs) != {input_name}:
            raise BadInput(f'"inputs": expected {{"{input_name}": [N, 28, 28] numbers}}, '
                           f"got keys {sorted(inputs)[:5]}")
        inputs, where = inputs[input_name], f"inputs.{input_name}"
    if not isinstance(inputs, list):
        raise BadInput(f"{where}: expected a list of N images of 28x28 numbers, got {type(inputs).__name__}")
    check_count(len(inputs), max_instances)
    return np.stack([image_array(item, f"{where}[{i}]", bools) for i, item in enumerate(inputs)])


def check_count(n, max_instances):
    if n == 0:
        raise BadInput("no instances: send at least one image")
    if n > max_instances:
        raise BadInput(f"too many instances: {n:,} in one request, at most {max_instances:,}; split them "
                       "over several requests", status=413)


def open_picture(data, name="image"):
    """Bytes of a PNG, JPEG, GIF, BMP or WebP file -> a 2-D float32 array of grey levels 0..1, transparency
    flattened on white. Any other file is refused (415) by its header alone, before a pixel is decoded: Pillow
    would open EPS by running Ghostscript on it, and its rarer plug-ins are more code facing strangers' bytes.
    A file that claims a picture format and does not decode is refused (415) too, in the same one line."""
    from PIL import Image, UnidentifiedImageError
    if not data:
        raise BadInput(f"{name}: empty file, not an image", status=415)
    too_large = f"at most {MAX_PIXELS // 1_000_000} megapixels; scale it down"
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)  # the header only: no pixel decoded yet
    except UnidentifiedImageError:
        raise BadInput(f"{name}: not a {FORMAT_NAMES} picture", status=415) from None
    except Image.DecompressionBombError:
        # Pillow's own check of the header's size (twice its MAX_IMAGE_PIXELS, 179 megapixels), before any
        # decoding: the same answer as ours, which it pre-empts
        raise BadInput(f"{name}: more than {2 * Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels is too large "
                       f"({too_large})", status=413) from None
    except Exception:  # noqa: BLE001 (a plug-in's parser failing on a stranger's header: the file's fault)
        raise BadInput(f"{name}: a damaged picture file (its header does not parse)", status=415) from None
    if img.size[0] * img.size[1] > MAX_PIXELS:
        raise BadInput(f"{name}: {img.size[0]}x{img.size[1]} pixels is too large ({too_large})", status=413)
    try:
        img.load()
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
        grey = img.convert("L")
        factor = -(-max(grey.size) // WORKING_SIDE)
        if factor > 1:  # box-averaged down first: to_mnist's float arrays then hold 1 megapixel, not 25
            grey = grey.reduce(factor)
    except Exception:  # noqa: BLE001 (truncated or corrupt data: Pillow raises OSError, SyntaxError, ValueError...)
        raise BadInput(f"{name}: a damaged {img.format} file (its pixels do not decode)", status=415) from None
    return np.asarray(grey, dtype=np.float32) / 255.0


def to_mnist(grey):
    """Grey levels [H, W] in 0..1, either polarity -> float32 [28, 28] as MNIST digits were made."""
    from PIL import Image
    a = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    ink = a - background if background < 0.5 else background - a  # light ink on dark, whatever came in
    ink = np.clip(ink, 0, None)
    peak = float(ink.max())
    if peak < 0.15:
        raise BadInput("no digit found: the image is blank or has almost no contrast", status=422)
    ink /= peak
    rows, cols = np.nonzero(ink > 0.2)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = ink.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = Image.fromarray(np.round(ink * 255).astype(np.uint8)).resize(size, Image.LANCZOS)
    box = np.asarray(box, dtype=np.float32) / 255.0
    ys, xs = np.indices(box.shape)
    mass = box.sum()
    cy, cx = (ys * box).sum() / mass, (xs * box).sum() / mass
    # the centre of mass lands on pixel (14, 14), as in MNIST, unless that would push ink off the field
    top = min(max(int(round(14 - cy)), 0), 28 - box.shape[0])
    left = min(max(int(round(14 - cx)), 0), 28 - box.shape[1])
    out = np.zeros((28, 28), np.float32)
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return np.clip(out, 0, 1)


def picture_image(data, name="image"):
    """Bytes of a picture file -> float32 [28, 28], MNIST-style."""
    return to_mnist(open_picture(data, name))
