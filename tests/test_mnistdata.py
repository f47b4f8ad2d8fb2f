"""mnistdata against the known facts of MNIST (data/README.md), and every bad file refused clearly."""
import gzip
import os
import shutil

import numpy as np
import pytest

import mnistdata

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_known_facts(mnist):
    assert mnist.train.images.shape == (60000, 28, 28, 1) and mnist.train.images.dtype == np.float32
    assert mnist.test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(mnist.train.labels.argmax(1)).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.test.labels.argmax(1)).tolist() == TEST_COUNTS
    assert mnist.test.labels[:10].argmax(1).tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.train.images.mean() == pytest.approx(0.1307, abs=5e-5)
    assert mnist.train.images.std() == pytest.approx(0.3081, abs=5e-5)
    assert mnist.train.images.min() == 0.0 and mnist.train.images.max() == 1.0


def test_one_hot_and_reshape():
    m = mnistdata.read_data_sets(one_hot=False, reshape=True)
    assert m.train.images.shape == (60000, 784) and m.test.labels.dtype == np.int64
    assert m.test.labels[:3].tolist() == [7, 2, 1]
    one_hot = mnistdata.read_data_sets()
    assert one_hot.test.labels.shape == (10000, 10) and set(np.unique(one_hot.test.labels)) == {0.0, 1.0}
    assert (one_hot.test.labels.sum(1) == 1).all()
    assert np.array_equal(one_hot.test.images.reshape(-1, 784), m.test.images)


def test_batches_cover_each_epoch_and_reshuffle():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    ds = mnistdata.DataSet(images, images.copy(), seed=3)
    epoch1 = np.concatenate([ds.next_batch(5)[0] for _ in range(2)]).ravel()
    epoch2 = np.concatenate([ds.next_batch(5)[0] for _ in range(2)]).ravel()
    assert sorted(epoch1) == sorted(epoch2) == list(range(10))   # every example once per epoch
    assert not np.array_equal(epoch1, epoch2)                      # a fresh order every epoch
    x, y = ds.next_batch(4)
    assert np.array_equal(x, y)                                     # images and labels stay paired
    # a batch that crosses an epoch's end is completed from the next epoch
    ds = mnistdata.DataSet(images, images, seed=0)
    ds.next_batch(7)
    assert len(ds.next_batch(7)[0]) == 7 and ds.epochs_completed == 1


def test_seed_makes_batches_repeatable():
    a = mnistdata.DataSet(np.arange(100.0), np.arange(100.0), seed=1)
    b = mnistdata.DataSet(np.arange(100.0), np.arange(100.0), seed=1)
    c = mnistdata.DataSet(np.arange(100.0), np.arange(100.0), seed=2)
    assert np.array_equal(a.next_batch(10)[0], b.next_batch(10)[0])
    assert not np.array_equal(b.next_batch(10)[0], c.next_batch(10)[0])


def test_fashion_mnist_folder():
    folder = "/usr/share/datasets/fashion-mnist"
    if not os.path.isdir(folder):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    f = mnistdata.read_data_sets(folder, one_hot=False)
    assert f.train.images.shape == (60000, 28, 28, 1) and np.bincount(f.test.labels).tolist() == [1000] * 10


@pytest.fixture
def copy(tmp_path):
    """A copy of the bundled data set, to damage."""
    folder = tmp_path / "mnist"
    shutil.copytree(mnistdata.BUNDLED, folder)
    return folder


def refused(folder, *words):
    with pytest.raises(mnistdata.MnistDataError) as e:
        mnistdata.read_data_sets(str(folder))
    message = str(e.value)
    for word in words:
        assert word in message, message
    return message


def test_missing_folder(tmp_path):
    refused(tmp_path / "nowhere", "does not exist", "--data-dir")


def test_missing_file(copy):
    os.remove(copy / "t10k-labels-idx1-ubyte.gz")
    refused(copy, "t10k-labels-idx1-ubyte", "missing")


def test_truncated_gz(copy):
    path = copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    refused(copy, "train-labels-idx1-ubyte.gz", "truncated or corrupt")


def test_wrong_magic(copy):
    (copy / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"<html>not found</html>" * 10))
    (copy / "SHA256SUMS").unlink()
    refused(copy, "t10k-images-idx3-ubyte", "magic number", "0x00000803")


def test_counts_disagree(copy):
    (copy / "SHA256SUMS").unlink()
    labels = gzip.decompress((copy / "t10k-labels-idx1-ubyte.gz").read_bytes())
    short = labels[:4] + (9999).to_bytes(4, "big") + labels[8:-1]     # a valid file of 9,999 labels
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(short))
    refused(copy, "10000 images", "9999 labels")


def test_truncated_idx_body(copy):
    (copy / "SHA256SUMS").unlink()
    images = gzip.decompress((copy / "t10k-images-idx3-ubyte.gz").read_bytes())
    (copy / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images[:-784]))
    refused(copy, "t10k-images-idx3-ubyte", "truncated")


def test_checksum_mismatch(copy):
    labels = bytearray(gzip.decompress((copy / "train-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10                             # still a valid IDX file
    (copy / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    refused(copy, "train-labels-idx1-ubyte", "SHA-256")


def test_uncompressed_files_work(copy):
    for name in os.listdir(copy):
        if name.endswith(".gz"):
            (copy / name[:-3]).write_bytes(gzip.decompress((copy / name).read_bytes()))
            os.remove(copy / name)
    m = mnistdata.read_data_sets(str(copy))
    assert m.test.labels[:3].argmax(1).tolist() == [7, 2, 1]


def test_bad_data_stops_a_script_with_one_line(tmp_path):
    from conftest import run_script
    r = run_script("mnist_1.0_softmax.py", "--text", "--data-dir", str(tmp_path))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "mnistdata: train-images-idx3-ubyte.gz (or train-images-idx3-ubyte) is missing" in r.stderr


def test_a_file_given_as_the_folder(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    refused(tmp_path / "train-images-idx3-ubyte.gz", "is a file, not a folder", "the folder that holds")


def test_an_unreadable_folder_is_not_called_missing(copy, monkeypatch):
    # root reads any folder, so the permission is taken away where mnistdata asks for it
    real = os.access
    monkeypatch.setattr(mnistdata.os, "access", lambda p, mode: False if str(p) == str(copy) else real(p, mode))
    message = refused(copy, "cannot be read (permission denied)", "chmod")
    assert "missing" not in message and "does not exist" not in message


def test_an_unreadable_file_is_not_called_corrupt(copy, monkeypatch):
    import builtins
    def refusing(path, *a, **k):
        if str(path).endswith("t10k-labels-idx1-ubyte.gz"):
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *a, **k)
    monkeypatch.setattr(mnistdata, "open", refusing, raising=False)
    message = refused(copy, "t10k-labels-idx1-ubyte.gz cannot be read (permission denied)", "chmod +r")
    assert "corrupt" not in message and "truncated" not in message


def test_a_bad_data_dir_is_refused_before_tensorflow_loads(tmp_path):
    from conftest import run_script
    (tmp_path / "file").write_text("x")
    r = run_script("mnist_3.0_convolutional.py", "--data-dir", str(tmp_path / "file"),
                   env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr and "Traceback" not in r.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "numpy" in imported and "tensorflow" not in imported   # -X importtime's list: no TensorFlow


def write_idx(folder, train, test):
    """A folder of the four files holding the first `train` training and `test` test digits of MNIST."""
    m = mnistdata.read_data_sets(None, one_hot=False)
    folder.mkdir()
    for part, n in (("train", train), ("test", test)):
        images_name, labels_name = mnistdata.FILES[part]
        images = (getattr(m, part).images[:n, :, :, 0] * 255).round().astype(np.uint8)
        labels = getattr(m, part).labels[:n].astype(np.uint8)
        header = mnistdata.IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
        (folder / (images_name + ".gz")).write_bytes(gzip.compress(header + images.tobytes()))
        header = mnistdata.LABELS_MAGIC.to_bytes(4, "big") + n.to_bytes(4, "big")
        (folder / (labels_name + ".gz")).write_bytes(gzip.compress(header + labels.tobytes()))
    return folder


@pytest.mark.parametrize("train,test,message", [
    (50, 100, "train-images-idx3-ubyte in {} holds 50 images, fewer than a batch of 100"),
    (0, 100, "train-images-idx3-ubyte in {} holds no images"),
    (200, 0, "t10k-images-idx3-ubyte in {} holds no images")])
def test_a_data_set_too_small_for_the_step_is_one_line(tmp_path, train, test, message):
    from conftest import run_script
    folder = write_idx(tmp_path / "small", train, test)
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "3", "--data-dir", str(folder))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistdata: " + message.format(folder)), r.stderr


def test_checksums_are_read_as_sha256sum_reads_them(copy):
    """Comments and blank lines, as `sha256sum -c` allows them; a line that is no checksum is named."""
    sums = copy / "SHA256SUMS"
    sums.write_text("# MNIST, decompressed\n\n" + sums.read_text() + "\n   \n# end\n")
    assert mnistdata.read_data_sets(str(copy)).test.labels[:3].argmax(1).tolist() == [7, 2, 1]
    sums.write_text(sums.read_text() + "not a checksum line\n")
    refused(copy, "SHA256SUMS, line 10, is not a checksum line", "'not a checksum line'")


def test_a_comment_in_a_data_dirs_checksums_runs_the_step(tmp_path):
    from conftest import run_script
    folder = tmp_path / "mnist"
    shutil.copytree(mnistdata.BUNDLED, folder)
    (folder / "SHA256SUMS").write_text("# checksums of the decompressed files\n" + (folder / "SHA256SUMS").read_text())
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "2", "--data-dir", str(folder))
    assert r.returncode == 0 and "max test accuracy" in r.stdout, r.stderr[-2000:]


# -- the cache of decompressed files, and the reading ahead -------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MNISTDATA_CACHE_DIR", str(folder))
    return folder


def cache_use():
    return set(mnistdata.last_read["cache"].values())


def test_the_cache_is_built_once_then_used_without_decompressing(cache, copy, monkeypatch):
    first = mnistdata.read_data_sets(str(copy), one_hot=False)
    assert cache_use() == {"built"}
    entries = sorted(os.listdir(cache))
    assert len(entries) == 4 and all(e.split("-")[-1].isalnum() for e in entries)     # no .part left behind
    assert sorted(os.listdir(copy)) == sorted(os.listdir(mnistdata.BUNDLED))            # nothing beside the data
    monkeypatch.setattr(mnistdata.gzip, "decompress", lambda data: 1 / 0)
    again = mnistdata.read_data_sets(str(copy), one_hot=False)
    assert cache_use() == {"hit"}
    assert np.array_equal(first.train.images, again.train.images) and np.array_equal(first.test.labels,
                                                                                      again.test.labels)


def test_a_changed_gz_is_read_from_itself_not_from_the_cache(cache, copy):
    (copy / "SHA256SUMS").unlink()
    mnistdata.read_data_sets(str(copy), one_hot=False)
    path = copy / "t10k-labels-idx1-ubyte.gz"
    labels = bytearray(gzip.decompress(path.read_bytes()))
    labels[8] = (labels[8] + 1) % 10                        # the first test label: 7 becomes 8
    path.write_bytes(gzip.compress(bytes(labels)))
    m = mnistdata.read_data_sets(str(copy), one_hot=False)
    assert m.test.labels[:3].tolist() == [8, 2, 1]
    assert mnistdata.last_read["cache"]["t10k-labels-idx1-ubyte"] == "built" and len(os.listdir(cache)) == 5


@pytest.mark.parametrize("sums", [True, False], ids=["checked by SHA256SUMS", "checked by the gz trailer"])
def test_a_truncated_or_edited_entry_is_never_trusted(cache, copy, sums):
    if not sums:
        (copy / "SHA256SUMS").unlink()
    mnistdata.read_data_sets(str(copy), one_hot=False)
    entry = {e.rsplit("-", 1)[0]: cache / e for e in os.listdir(cache)}
    whole = entry["t10k-labels-idx1-ubyte"].read_bytes()
    entry["train-images-idx3-ubyte"].write_bytes(entry["train-images-idx3-ubyte"].read_bytes()[:-784])
    edited = bytearray(whole)
    edited[8] = (edited[8] + 1) % 10                      # the same size, one label changed
    entry["t10k-labels-idx1-ubyte"].write_bytes(bytes(edited))
    m = mnistdata.read_data_sets(str(copy), one_hot=False)
    assert m.test.labels[:3].tolist() == [7, 2, 1] and m.train.images.shape == (60000, 28, 28, 1)
    use = mnistdata.last_read["cache"]
    assert use["t10k-labels-idx1-ubyte"] == use["train-images-idx3-ubyte"] == "built"    # decompressed again
    assert use["train-labels-idx1-ubyte"] == use["t10k-images-idx3-ubyte"] == "hit"
    assert entry["t10k-labels-idx1-ubyte"].read_bytes() == whole                       # and rewritten whole


def test_an_unwritable_cache_folder_costs_only_the_speed_up(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MNISTDATA_CACHE_DIR", str(tmp_path / "file" / "cache"))        # under a file: no folder
    m = mnistdata.read_data_sets(None, one_hot=False)
    assert m.test.labels[:3].tolist() == [7, 2, 1]
    assert all(use.startswith("not kept: ") for use in mnistdata.last_read["cache"].values())
    monkeypatch.setenv("MNISTDATA_CACHE_DIR", "off")
    mnistdata.read_data_sets(None, one_hot=False)
    assert cache_use() == {"off"}


def test_the_cache_folder_is_the_users(monkeypatch):
    monkeypatch.delenv("MNISTDATA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert mnistdata.cache_folder() == "/somewhere/tensorflow-without-a-phd/mnistdata"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnistdata.cache_folder() == os.path.expanduser("~/.cache/tensorflow-without-a-phd/mnistdata")


def test_two_processes_building_the_cache_at_once(cache):
    import subprocess
    import sys
    code = ("import mnistdata; m = mnistdata.read_data_sets(None, one_hot=False); "
            "print(int(m.train.labels.sum()), int(m.test.images.sum()), sorted(set(mnistdata.last_read['cache'].values())))")
    env = dict(os.environ, MNISTDATA_CACHE_DIR=str(cache), PYTHONPATH=os.path.dirname(mnistdata.BUNDLED))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    figures = {out.rsplit(" [", 1)[0] for out, _ in outs}
    assert len(figures) == 1, outs                                              # the same data in every run
    assert sorted(e.rsplit("-", 1)[0] for e in os.listdir(cache)) == sorted(n for ns in mnistdata.FILES.values()
                                                                           for n in ns)   # whole entries only
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.rsplit(" [", 1) == [figures.pop(), "'hit']\n"], r.stdout


def test_a_prefetch_is_taken_over_and_its_error_raised_by_read_data_sets(copy, cache):
    mnistdata.prefetch(None)
    m = mnistdata.read_data_sets(None, one_hot=False)
    assert mnistdata.last_read["prefetched"] and m.test.labels[:3].tolist() == [7, 2, 1]
    mnistdata.read_data_sets(None, one_hot=False)
    assert not mnistdata.last_read["prefetched"]                 # taken once: a second read reads again
    os.remove(copy / "t10k-labels-idx1-ubyte.gz")
    mnistdata.prefetch(str(copy))
    refused(copy, "t10k-labels-idx1-ubyte", "missing")
