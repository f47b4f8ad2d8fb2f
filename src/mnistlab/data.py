"""MNIST-format data: IDX files read and verified, a small dataset registry, whole tensors on the device.

The whole dataset lives on the training device as two tensors per split; a batch is an index slice
(`x[idx]`), so there is no per-sample Python work and no DataLoader in the hot path.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

SPLITS = {  # role -> file name without .gz
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the DECOMPRESSED files, so any mirror's .gz (whatever its gzip header) verifies.
KNOWN_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DATASETS = ("mnist", "fashion-mnist")

_IDX_DTYPES = {0x08: np.uint8}  # MNIST-format files only use unsigned bytes


class DataError(Exception):
    """A data file is missing or not what it should be; the message names the file and says what to do."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{path}: corrupted or truncated gzip data ({e}); "
                            "replace the file with a fresh copy") from None
    return raw


def read_idx(path: str | Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzipped), checking magic number, dimensions, size and checksum."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (expected magic bytes 00 00, found {data[:4].hex() or 'empty file'})")
    dtype, ndim = data[2], data[3]
    if dtype not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(f"{path}: unsupported IDX header (type 0x{dtype:02x}, {ndim} dims); "
                        "expected unsigned bytes (0x08) with 1 to 4 dims")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{path}: wrong size for dimensions {dims}: expected {expected} bytes, "
                        f"found {len(data)} (truncated or padded file)")
    if expected_sha256 is not None:
        found = hashlib.sha256(data).hexdigest()
        if found != expected_sha256:
            raise DataError(f"{path}: checksum mismatch: expected SHA-256 {expected_sha256}, found {found}; "
                            "the file is corrupted or is not the dataset it claims to be")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


@dataclass
class Dataset:
    """Images as float tensors in [0, 1] of shape (N, 1, 28, 28), labels as int64 (N,)."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    source: str

    def to(self, device: torch.device | str) -> "Dataset":
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Dataset(self.name, move(self.train_x), move(self.train_y), move(self.test_x),
                       move(self.test_y), self.classes, self.source)


def _locate(folder: Path, stem: str) -> Path:
    for candidate in (folder / (stem + ".gz"), folder / stem, folder / stem.replace("-idx", ".idx")):
        if candidate.exists():
            return candidate
    raise DataError(f"{folder / (stem + '.gz')}: file not found (an MNIST-format folder holds "
                    f"{', '.join(s + '[.gz]' for s in SPLITS.values())})")


def load_folder(folder: str | Path, expect: str | None = None) -> Dataset:
    """Load the four IDX files of an MNIST-format folder; with `expect`, verify that dataset's checksums."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory (expected a folder of MNIST-format IDX files)")
    sums = KNOWN_SHA256.get(expect) if expect else None
    arrays = {role: read_idx(_locate(folder, stem), sums[stem] if sums else None) for role, stem in SPLITS.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{folder}: {split} images have shape {images.shape}, expected (N, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{folder}: {len(images)} {split} images but labels of shape {labels.shape}")
        if labels.max(initial=0) > 9:
            raise DataError(f"{folder}: {split} labels must be 0..9, found {int(labels.max())}")
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # noqa: E731  (N,1,28,28)
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    name = expect or "custom"
    return Dataset(name, to_x(arrays["train_images"]), to_y(arrays["train_labels"]),
                   to_x(arrays["test_images"]), to_y(arrays["test_labels"]),
                   CLASS_NAMES.get(name, CLASS_NAMES["mnist"]), str(folder))


def bundled_mnist_dir() -> Path:
    return Path(str(resources.files("mnistlab") / "datasets" / "mnist"))


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnistlab"


def _download_verified(url: str, dest: Path, sha256: str) -> None:
    """Download to a temp file beside `dest`, verify, then rename: a failure leaves nothing behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        read_idx(tmp, sha256)  # raises DataError on any mismatch
        os.replace(tmp, dest)
    except OSError as e:
        raise DataError(f"could not download {url}: {e}; install Debian's dataset-fashion-mnist "
                        "or pass --data-dir") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fashion_mnist_dir() -> Path:
    """Debian's copy when installed, else the user cache, downloading what is missing."""
    if FASHION_SYSTEM_DIR.is_dir():
        return FASHION_SYSTEM_DIR
    folder = cache_dir() / "fashion-mnist"
    for stem, sha in KNOWN_SHA256["fashion-mnist"].items():
        dest = folder / (stem + ".gz")
        if not dest.exists():
            _download_verified(FASHION_MIRROR + stem + ".gz", dest, sha)
    return folder


def load(dataset: str = "mnist", data_dir: str | Path | None = None) -> Dataset:
    """The dataset on the CPU: `--data-dir` wins; its checksums are checked when `dataset` is a known one
    that the user named, otherwise only its structure is."""
    if data_dir is not None:
        return load_folder(data_dir, expect=dataset if dataset in KNOWN_SHA256 else None)
    if dataset == "mnist":
        return load_folder(bundled_mnist_dir(), expect="mnist")
    if dataset == "fashion-mnist":
        return load_folder(fashion_mnist_dir(), expect="fashion-mnist")
    raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)} or pass --data-dir")
