"""A step's start-up, from the command to its first training line: what shortens it, and the log that says where
it went.

begin(), called by tensorflowvisu.flags() once a script's flags are read, starts reading the data in a thread and
imports TensorFlow meanwhile, without the parts of its import no step needs (import_tensorflow: Keras, the
garbage collector's passes, repeated compilations). Measured, part by part: docs/speed.md, "Start-up".

TFVISU_STARTUP_LOG=FILE makes a run note the moment it passes each stage (mark(name): time.perf_counter(), on
Linux CLOCK_MONOTONIC, one clock for every process, so benchmarks/startup.py reads the marks against the moment
it launched the command) and write them to FILE as JSON once the start-up is over: at the first training
figures, and in a window once it has also been drawn (or, for a run that never got there, when it ends).
Unset, mark() tests one global and returns: the start-up costs nothing more.

The stages: tensorflowvisu (its first line runs: the interpreter is up), flags (read), tensorflow (imported,
where tensorflowvisu imports it), read and data (read_data_sets called and returned, from mnistdata.last_read,
mnistdata's own record), graph (MnistDataVis() called: the script has built its graph), vis (MnistDataVis()
made: the device line printed, the display chosen), session (animate() called: the Session made and
initialised), loop (the first iteration starts), window (the window made, while that iteration runs), figures
(the first training figures, which the script prints at once), drawn (the window's first picture).
"""
import atexit
import builtins
import functools
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import time

LOG = os.environ.get("TFVISU_STARTUP_LOG") or None
_MARKS = {}               # name -> perf_counter(), the first time each stage was passed
_CPU = {}                 # name -> the process's CPU seconds then (time.process_time(): every thread's)
_WRITTEN = []
_AWAITED = {"figures"}    # the stages that end the start-up: the first figures, and "drawn" in a window


def mark(name, awaits=None):
    """Note that the start-up passed stage `name` (only its first passage counts); `awaits`: a later stage the
    start-up is over only after ("drawn", once a window was chosen)."""
    if LOG and name not in _MARKS:
        _MARKS[name], _CPU[name] = time.perf_counter(), time.process_time()
        if awaits:
            _AWAITED.add(awaits)
        if _AWAITED <= _MARKS.keys():
            write()


def begin(data_dir):
    """A script's run, once its flags are read: the data read in a thread (mnistdata.prefetch: decompressing,
    hashing and numpy's conversion release the GIL) while TensorFlow is imported here, without Keras."""
    import mnistdata
    mnistdata.prefetch(data_dir)
    import_tensorflow()
    mark("tensorflow")


class _KerasLater(importlib.abc.MetaPathFinder):
    """`import keras` fails while TensorFlow is imported, as if Keras were not installed.

    TensorFlow's __init__ ends by importing keras.src.optimizers, so that Keras's optimizers are registered for
    SavedModels that name them, inside a try/except ImportError; with Keras 3 that import brings all of Keras and
    matplotlib.pyplot. No step uses Keras (tf.keras is still there: TensorFlow loads it lazily, and a later
    `import keras` imports it whole). Lookups of its spec (TensorFlow's own importlib.util.find_spec("keras"),
    which finds the folder tf.keras points to) still succeed: only loading the module is refused."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = self
        return spec

    def create_module(self, spec):
        raise ImportError("keras is not imported while TensorFlow is (tensorflowvisu)", name="keras")

    def exec_module(self, module):
        raise ImportError("keras is not imported while TensorFlow is (tensorflowvisu)", name="keras")


def import_tensorflow():
    """import tensorflow, and with it tensorflow.compat.v1, without Keras (_KerasLater), without Python's cyclic
    garbage collector, its first C++ library bound lazily (_bind_lazily) and compiling each forward reference once
    (_compile_once). The import makes some 390,000 objects the collector tracks and hardly any garbage: the
    collections they set off cost 10-15% of its CPU time (docs/speed.md, "Start-up"); its objects are then frozen
    (gc.freeze), so that the run's collections never go through them again. The CUDA wheel's start-up lines are
    filtered out while it loads and lists its devices (quiet.py: they mean nothing to a learner on a machine without
    an NVIDIA driver)."""
    if "tensorflow" in sys.modules:
        return
    from visualiser import quiet
    later, compile_ = _KerasLater(), builtins.compile
    sys.meta_path.insert(0, later)
    collecting = gc.isenabled()
    gc.disable()
    builtins.compile = _compile_once
    try:
        with quiet.filtered_stderr(quiet.chatter()):
            _bind_lazily()
            import tensorflow
            tensorflow.config.list_physical_devices()   # where the cuInit line comes from
    finally:
        builtins.compile = compile_
        sys.meta_path.remove(later)
        if collecting:
            gc.freeze()
            gc.enable()


_LAZY = []   # the library loaded by _bind_lazily (never unloaded: the handle is only kept)


def _bind_lazily():
    """Load TensorFlow's first extension module's library, and with it libtensorflow_cc (788 MB) and its
    siblings, binding their functions on first call (RTLD_LAZY) instead of all 156,000 at load (Python's
    RTLD_NOW): 0.05 s of the import (docs/speed.md, "What was cut"). The import that follows finds them loaded.
    The same file with the same dependencies, so every symbol is searched in the same order as it would have
    been: only the moment of binding changes. Data references (typeinfo, variables) are bound at load either
    way. Nothing happens where the file is not there (another platform or wheel) or LD_BIND_NOW is set."""
    if os.name != "posix" or os.environ.get("LD_BIND_NOW"):
        return
    spec = importlib.util.find_spec("tensorflow")
    if not (spec and spec.submodule_search_locations):
        return
    folder = os.path.join(spec.submodule_search_locations[0], "python", "platform")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "_pywrap_cpu_feature_guard" + suffix)
        if os.path.exists(path):
            import ctypes
            try:
                _LAZY.append(ctypes.CDLL(path, mode=os.RTLD_LAZY | os.RTLD_LOCAL))
            except OSError:      # not loadable here: the import says why, as it would have
                pass
            return


@functools.lru_cache(maxsize=None)
def _compiled(source):
    return _COMPILE(source, "<string>", "eval")


def _compile_once(source, filename, mode, *args, **kwargs):
    """compile(), sharing the code of an expression already compiled. TensorFlow's generated op modules make
    some 18,000 typing.ForwardRef objects out of a few hundred strings ("_atypes.Float32", ...), and each
    compiles its string: about 6% of the import's CPU time. A code object never changes, so one serves them all;
    every other call is compile()'s own."""
    if not args and not kwargs and isinstance(source, str) and filename == "<string>" and mode == "eval":
        return _compiled(source)
    return _COMPILE(source, filename, mode, *args, **kwargs)


_COMPILE = builtins.compile


def process_start():
    """When this process started, on perf_counter's clock (Linux: /proc/self/stat, to 10 ms), or None."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        ago = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.perf_counter() - ago
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def write():
    """Write the marks to $TFVISU_STARTUP_LOG (once; under a temporary name, then renamed)."""
    if not LOG or _WRITTEN:
        return
    _WRITTEN.append(True)
    marks = dict(_MARKS)
    read = getattr(sys.modules.get("mnistdata"), "last_read", None) or {}
    for name, key in (("read", "start"), ("data", "end")):    # read_data_sets called, and returned
        if read.get(key) is not None:
            marks.setdefault(name, read[key])
    record = {"clock": "time.perf_counter", "pid": os.getpid(), "argv": sys.argv,
              "process_start": process_start(), "marks": dict(sorted(marks.items(), key=lambda m: m[1])),
              "cpu": _CPU, "data": read}
    tmp = f"{LOG}.{os.getpid()}.part"
    try:
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, LOG)
    except OSError as e:
        print(f"tensorflowvisu: TFVISU_STARTUP_LOG={LOG} could not be written ({e.strerror or e})", file=sys.stderr)


if LOG:
    atexit.register(write)
    mark("tensorflowvisu")          # tensorflowvisu imports this module first
