"""MNIST for the course's scripts: read_data_sets() over the four IDX files, verified, with no network.

    mnist = mnistdata.read_data_sets(None, one_hot=True, reshape=False)   # None: the set bundled in data/
    batch_X, batch_Y = mnist.train.next_batch(100)    # [100, 28, 28, 1] float32 in 0..1, [100, 10] one-hot
    mnist.test.images, mnist.test.labels              # all 10,000 test digits

Any folder holding the four files in the MNIST format works (Fashion-MNIST, say: Debian's package
dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist); `.gz` or not. The bundled files are
checked against data/SHA256SUMS (of the decompressed bytes, so a copy from any mirror verifies); another
folder is checked against its own SHA256SUMS if it has one. Every problem is a MnistDataError whose message
names the file and says what to do: the step scripts and the trainer print it alone, as one line.
This is the repository's one IDX reader (the scripts and mlengine use it); it needs numpy only.
Cost: about 0.5 s for the four files (decompression and SHA-256), under half that from the cache of decompressed
files (below); and prefetch() reads them in a thread while the caller does something else.
"""
import contextlib
import gzip
import hashlib
import os
import struct
import threading
import time
import zlib

import numpy as np

BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801   # IDX: unsigned bytes, 3 dims / 1 dim
# The seeds every consumer accepts: numpy's RandomState takes < 2**32 and the test set's stream is seed + 1;
# TensorFlow's graph seed is an int64. The steps' --seed and the training job's --seed both check against it.
SEED_MAX = 2 ** 31 - 2
last_read = None          # the last read_data_sets: its folder, when it started and ended (time.perf_counter),
                          # whether a prefetch had read it, what the cache did ("hit", "built", "off", ...)
_AHEAD = {}               # (folder, bundled) -> the prefetch reading it
_CACHE_USE = {}           # folder -> {file name: what the cache did for its .gz}


class MnistDataError(Exception):
    """Bad or missing data; str() is the one line to show the user (the entry points print it alone)."""

    def __init__(self, message):
        super().__init__("mnistdata: " + message)


class DataSet:
    """images [N, 28, 28, 1] (or [N, 784]) float32 in 0..1; labels [N, 10] float32 one-hot (or [N] int64).
    next_batch(n) walks a fresh permutation every epoch, drawn from `seed`, so a run is repeatable."""

    def __init__(self, images, labels, seed=0, name="the data set"):
        self.images, self.labels, self.name = images, labels, name
        self.num_examples = len(images)
        self.epochs_completed = 0
        self._rng = np.random.RandomState(seed)
        self._order = self._rng.permutation(self.num_examples)
        self._pos = 0

    def next_batch(self, n):
        if n <= 0:
            raise ValueError(f"next_batch({n}): the batch size must be 1 or more")
        if n > self.num_examples:       # a small --data-dir: say it in the user's terms, not numpy's
            raise MnistDataError(f"{self.name} holds {self.num_examples} images, fewer than a batch of {n}: "
                                 f"give --data-dir a folder with at least {n} training images")
        idx = self._order[self._pos:self._pos + n]
        self._pos += n
        if len(idx) < n:  # the epoch ran out: finish this batch from the next epoch's permutation
            self.epochs_completed += 1
            self._order = self._rng.permutation(self.num_examples)
            self._pos = n - len(idx)
            idx = np.concatenate([idx, self._order[:self._pos]])
        return self.images[idx], self.labels[idx]


class Datasets:
    def __init__(self, train, test, data_dir):
        self.train, self.test, self.data_dir = train, test, data_dir


def read_data_sets(data_dir=None, one_hot=True, reshape=False, seed=0):
    """The MNIST training (60,000) and test (10,000) sets from `data_dir` (None: the bundled copy); what a
    prefetch(data_dir) started is taken over (its error, if any, raised here)."""
    global last_read
    start = time.perf_counter()
    key = _folder(data_dir), data_dir is None
    ahead = _AHEAD.pop(key, None)
    decoded = ahead.result() if ahead else _decode(*key)
    sets = []
    for part, (x, labels, images_name) in decoded.items():
        x = x.reshape(len(x), 784) if reshape else x.reshape(len(x), 28, 28, 1)
        y = np.eye(10, dtype=np.float32)[labels] if one_hot else labels.astype(np.int64)
        # The two sets draw from different streams so that seeding one never mirrors the other.
        sets.append(DataSet(x, y, seed=seed + (part == "test"), name=f"{images_name} in {key[0]}"))
    last_read = {"folder": key[0], "start": start, "end": time.perf_counter(), "prefetched": ahead is not None,
                 "cache": _CACHE_USE.pop(key[0], None)}
    return Datasets(*sets, data_dir=key[0])


def prefetch(data_dir=None):
    """Start reading `data_dir` (None: the bundled set) in a thread and return at once: read_data_sets(data_dir)
    then takes what it read. The decompression, the hashes and numpy's conversion release the GIL, so the
    reading runs beside whatever the caller does meanwhile (a step's: TensorFlow's import, on another core)."""
    key = _folder(data_dir), data_dir is None
    if key not in _AHEAD:
        _AHEAD[key] = _Ahead(key)


class _Ahead(threading.Thread):
    def __init__(self, key):
        super().__init__(name="mnistdata.prefetch", daemon=True)
        self.key, self.value, self.error = key, None, None
        self.start()

    def run(self):
        try:
            self.value = _decode(*self.key)
        except BaseException as e:      # raised again by read_data_sets, in the caller's thread
            self.error = e

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def _folder(data_dir):
    return BUNDLED if data_dir is None else os.path.expanduser(str(data_dir))


def _decode(folder, bundled):
    """{"train"/"test": (images [N, 28, 28] float32 in 0..1, labels [N] uint8, images file name)}, every file
    verified; `bundled`: the folder must have its SHA256SUMS."""
    problem = folder_problem(folder)
    if problem:
        raise MnistDataError(f"the data folder {folder}: {problem}")
    sums = read_checksums(folder, required=bundled)
    out = {}
    for part, (images_name, labels_name) in FILES.items():
        images = parse_idx(*read_file(folder, images_name, sums), IMAGES_MAGIC)
        labels = parse_idx(*read_file(folder, labels_name, sums), LABELS_MAGIC)
        if len(images) != len(labels):
            raise MnistDataError(f"{images_name} holds {len(images)} images but {labels_name} holds "
                                 f"{len(labels)} labels in {folder}: the two files come from different sets")
        if labels.max(initial=0) > 9:
            raise MnistDataError(f"{labels_name} in {folder} has a label {labels.max()}: MNIST labels are 0..9")
        if not len(images):
            raise MnistDataError(f"{images_name} in {folder} holds no images: the steps train and test on them; "
                                 "give --data-dir a folder whose four files hold digits")
        # one pass: each byte to float32, times float32(1/255) (the same figures as a cast, then *= 1 / 255)
        out[part] = np.multiply(images, np.float32(1 / 255), dtype=np.float32), labels, images_name
    return out


def folder_problem(folder):
    """Why `folder` cannot be a data folder (a short phrase that says what to do), or None. Cheap: the flags
    call it before TensorFlow loads, so that a wrong --data-dir is answered at once."""
    folder = os.path.expanduser(str(folder))
    if not os.path.exists(folder):
        return ("does not exist: give --data-dir a folder holding the four MNIST-format files "
                "(train-images-idx3-ubyte.gz, ...), or leave it out to use the bundled MNIST")
    if not os.path.isdir(folder):
        return ("is a file, not a folder: give --data-dir the folder that holds the four MNIST-format files "
                "(train-images-idx3-ubyte.gz, ...)")
    if not os.access(folder, os.R_OK | os.X_OK):
        return "cannot be read (permission denied): make it readable (chmod +rx), or copy the files elsewhere"
    return None


def read_checksums(folder, required):
    """{file name without .gz: sha256 of the decompressed bytes} from folder/SHA256SUMS, or {}. Read as
    `sha256sum -c` reads it: "DIGEST  NAME" or "DIGEST *NAME" a line; blank lines and # comments are skipped."""
    path = os.path.join(folder, "SHA256SUMS")
    if not os.path.exists(path):
        if required:
            raise MnistDataError(f"{path} is missing: the bundled data cannot be verified; restore the data/ "
                                 "folder from the repository (git checkout -- data)")
        return {}
    sums = {}
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            digest, _, name = line.strip().partition(" ")
            name = name.lstrip(" *")
            if len(digest) != 64 or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
                raise MnistDataError(f"{path}, line {number}, is not a checksum line (\"SHA-256  FILE\", as "
                                     f"sha256sum writes it): {line.strip()[:60]!r}; fix or remove that line")
            sums[name.removesuffix(".gz")] = digest.lower()
    return sums


def read_file(folder, name, sums):
    """(bytes, path) of folder/name(.gz), decompressed and checked against `sums` when it lists the file; a .gz's
    decompressed bytes come from the cache (cache_folder()) when it holds them whole."""
    for path in (os.path.join(folder, name + ".gz"), os.path.join(folder, name)):
        if os.path.exists(path):
            break
    else:
        raise MnistDataError(f"{name}.gz (or {name}) is missing from {folder}: an MNIST-format folder holds "
                             "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                             "t10k-labels-idx1-ubyte, gzipped or not")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except PermissionError:
        raise MnistDataError(f"{path} cannot be read (permission denied): make it readable (chmod +r)") from None
    except OSError as e:
        raise MnistDataError(f"{path} cannot be read ({e.strerror}): copy the file again") from None
    if path.endswith(".gz"):
        cache_path, kept = cached(name, data, sums)
        if kept is not None:
            _CACHE_USE.setdefault(folder, {})[name] = "hit"
            return kept, path
        gz = data
        try:
            data = gzip.decompress(gz)
        except (OSError, EOFError, zlib.error) as e:
            raise MnistDataError(f"{path} is truncated or corrupt ({e}): copy the file again"
                                 + (" (git checkout -- data)" if folder == BUNDLED else "")) from None
    if name in sums and hashlib.sha256(data).hexdigest() != sums[name]:
        raise MnistDataError(f"{path} does not match its SHA-256 in {os.path.join(folder, 'SHA256SUMS')}: "
                             "the file was changed or damaged; copy it again"
                             + (" (git checkout -- data)" if folder == BUNDLED else ""))
    if path.endswith(".gz"):
        _CACHE_USE.setdefault(folder, {})[name] = keep(cache_path, data, gz)
    return data, path


# -- the cache of decompressed files ---------------------------------------------------------------------------
# Decompressing the four .gz files is most of the reading (about 0.3 s of 0.5). The cache keeps each one's
# decompressed bytes under the SHA-256 of the .gz file's own bytes, so an entry belongs to one .gz, whatever its
# folder: a changed .gz has another name, and gets a new entry. An entry is used only when whole: the size and the
# CRC-32 the .gz's trailer holds (what gzip checks when it decompresses), and, where SHA256SUMS lists the file,
# its SHA-256 (as for a fresh decompression); anything else (truncated, edited, unreadable) is decompressed again
# and the entry rewritten. Entries are written under a temporary name and renamed: a reader sees a whole file or
# none, and two runs writing at once each rename a whole one. An unwritable or full cache folder costs the
# speed-up, nothing else. The folder is the user's cache folder, never the data's (the bundled data/ is the
# repository's; a --data-dir may be read-only, as Debian's /usr/share/datasets): delete it at any time.
def cache_folder():
    """$MNISTDATA_CACHE_DIR (off: no cache), else $XDG_CACHE_HOME/tensorflow-without-a-phd/mnistdata, else
    ~/.cache/tensorflow-without-a-phd/mnistdata; None for no cache."""
    chosen = os.environ.get("MNISTDATA_CACHE_DIR")
    if chosen:
        return None if chosen.lower() == "off" else os.path.expanduser(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorflow-without-a-phd", "mnistdata")


def cached(name, gz, sums):
    """(the cache entry's path for this .gz's bytes or None, its decompressed bytes if whole or None)."""
    folder = cache_folder()
    if not folder or len(gz) < 18:
        return None, None
    path = os.path.join(folder, f"{name}-{hashlib.sha256(gz).hexdigest()[:32]}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return path, None
    whole = (hashlib.sha256(data).hexdigest() == sums[name]) if name in sums else trailer_matches(gz, data)
    return path, data if whole else None


def trailer_matches(gz, data):
    """Whether `data` has the CRC-32 and size (modulo 2**32) a one-member .gz file's last 8 bytes give."""
    crc, size = struct.unpack("<II", gz[-8:])
    return len(data) % 2 ** 32 == size and zlib.crc32(data) == crc


def keep(path, data, gz):
    """Write the entry (when there is a cache and the .gz's trailer describes `data`: a .gz of several members
    is not kept); returns what the cache did: "built", "off", or why it could not."""
    if path is None:
        return "off"
    if not trailer_matches(gz, data):
        return "not kept: a .gz of several members"
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return "built"
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        return f"not kept: {e.strerror or e}"


def parse_idx(data, path, magic):
    """An IDX file's bytes -> uint8 array of the shape its header gives (images [N, 28, 28], labels [N])."""
    what = "images" if magic == IMAGES_MAGIC else "labels"
    dims = 3 if magic == IMAGES_MAGIC else 1
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found != magic:
        raise MnistDataError(f"{path} is not an IDX file of {what} (magic number "
                             f"{'none' if found is None else hex(found)}, expected {magic:#010x}): "
                             "is it the right file, or an HTML page saved in its place?")
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(dims))
    if dims == 3 and shape[1:] != (28, 28):
        raise MnistDataError(f"{path} holds {shape[1]}x{shape[2]} images: the course's networks take 28x28")
    if len(data) != header + int(np.prod(shape)):
        raise MnistDataError(f"{path} holds {len(data) - header} bytes of {what} where its header announces "
                             f"{int(np.prod(shape))} ({' x '.join(map(str, shape))}): the file is truncated; "
                             "copy it again")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)
