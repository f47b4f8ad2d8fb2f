"""The IDX reader, the bundled data's known facts, and every kind of bad data file."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MNIST, run_cli
from mnistlab import data
from mnistlab.data import DataError, load_folder, read_idx


def test_bundled_mnist_matches_the_known_facts(mnist):
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    counts = lambda y: np.bincount(y.numpy(), minlength=10).tolist()  # noqa: E731
    assert counts(mnist.train_y) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert counts(mnist.test_y) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.test_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert float(mnist.train_x.mean()) == pytest.approx(0.1307, abs=1e-4)
    assert float(mnist.train_x.std()) == pytest.approx(0.3081, abs=1e-4)


def test_bundled_files_are_the_published_ones():
    for name, sha in data.KNOWN_SHA256["mnist"].items():
        raw = gzip.decompress((data.bundled_mnist_dir() / (name + ".gz")).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == sha
    sums = SHARED_MNIST / "SHA256SUMS"
    if sums.exists():  # the project's shared copy: the packaged .gz are byte-identical to it
        for line in sums.read_text().split("\n"):
            if line.strip():
                sha, name = line.split()
                assert hashlib.sha256((data.bundled_mnist_dir() / name).read_bytes()).hexdigest() == sha


def _copy_mnist(tmp_path: Path) -> Path:
    folder = tmp_path / "mnist"
    shutil.copytree(data.bundled_mnist_dir(), folder)
    return folder


def test_reads_raw_and_gzipped_idx(tmp_path):
    gz = data.bundled_mnist_dir() / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    a, b = read_idx(gz), read_idx(raw, data.KNOWN_SHA256["mnist"]["t10k-labels-idx1-ubyte"])
    assert a.shape == (10000,) and (a == b).all()


@pytest.mark.parametrize("damage, message", [
    ("missing", "file not found"),
    ("truncated_gzip", "corrupted or truncated gzip"),
    ("flipped_byte", "checksum mismatch"),
    ("wrong_magic", "not an IDX file"),
    ("short_raw", "wrong size"),
    ("empty", "not an IDX file"),
])
def test_bad_data_file_is_named_with_expected_and_found(tmp_path, damage, message):
    folder = _copy_mnist(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    if damage == "missing":
        target.unlink()
    elif damage == "truncated_gzip":
        target.write_bytes(target.read_bytes()[:-200])
    elif damage == "flipped_byte":
        target.write_bytes(gzip.compress(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]))
    elif damage == "wrong_magic":
        target.write_bytes(gzip.compress(b"\x01\x02" + raw[2:]))
    elif damage == "short_raw":
        target.unlink()
        (folder / "t10k-labels-idx1-ubyte").write_bytes(raw[:-10])
    elif damage == "empty":
        target.write_bytes(b"")
    with pytest.raises(DataError, match=message) as e:
        load_folder(folder, expect="mnist")
    assert "t10k-labels-idx1-ubyte" in str(e.value)


def test_unknown_folder_is_checked_for_structure_only(tmp_path):
    folder = _copy_mnist(tmp_path)
    labels = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # another valid label: a "custom" dataset, not MNIST
    labels.write_bytes(gzip.compress(bytes(raw)))
    assert load_folder(folder).name == "custom"
    with pytest.raises(DataError, match="checksum mismatch"):
        load_folder(folder, expect="mnist")


def test_cli_bad_data_dir_fails_before_training_and_leaves_no_run_dir(tmp_path):
    folder = _copy_mnist(tmp_path)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    p = run_cli("train", "1.0", "--dataset", "mnist", "--data-dir", folder, "--run-dir", tmp_path / "run",
                "--display", "none")
    assert p.returncode == 1
    assert "train-images-idx3-ubyte" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not data.FASHION_SYSTEM_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian():
    ds = data.load("fashion-mnist")
    assert ds.name == "fashion-mnist" and ds.train_x.shape == (60000, 1, 28, 28)
    assert ds.classes[0] == "T-shirt" and np.bincount(ds.test_y.numpy()).tolist() == [1000] * 10


def _serve(folder: Path):
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_fashion_download_is_verified_and_atomic(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    server = _serve(mirror)
    try:
        monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", tmp_path / "absent")
        monkeypatch.setattr(data, "FASHION_MIRROR", f"http://127.0.0.1:{server.server_port}/")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        # The mirror serves MNIST under Fashion-MNIST's names: the checksum must catch it.
        for stem in data.SPLITS.values():
            shutil.copy(data.bundled_mnist_dir() / (stem + ".gz"), mirror / (stem + ".gz"))
        with pytest.raises(DataError, match="checksum mismatch"):
            data.fashion_mnist_dir()
        cached = tmp_path / "cache" / "mnistlab" / "fashion-mnist"
        assert list(cached.iterdir()) == []  # no file, no .part left behind
        (mirror / "train-images-idx3-ubyte.gz").unlink()
        monkeypatch.setattr(data, "FASHION_MIRROR", f"http://127.0.0.1:{server.server_port}/missing/")
        with pytest.raises(DataError, match="could not download"):
            data.fashion_mnist_dir()
        assert list(cached.iterdir()) == []
    finally:
        server.shutdown()
