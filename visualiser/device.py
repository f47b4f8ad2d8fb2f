"""The device a step trains on and TensorFlow's two thread pools, chosen once and announced in one line.

MnistDataVis() calls use() before the script makes its Session (tf.compat.v1.Session() without a config
takes the eager context's: `config = context.context().config` in session.py), so the pools set here are the
Session's; 5.0 asks for its own layout earlier, through towers(), and use() then keeps it.
"""
import os
import sys

from .options import cores

THREADS = None            # (intra-op, inter-op) once set, for the device line
INLINE = -1               # inter-op threads: none, each op run in turn on the thread that runs the session


def thread_counts(intra=None, inter=None, inline=False):
    """(intra-op, inter-op): --threads, else $TF_NUM_INTRAOP_THREADS, else $OMP_NUM_THREADS, else one per core
    this process may use, or 1 for a graph of small ops (`inline`); between ops `inter`, else
    $TF_NUM_INTEROP_THREADS, else INLINE for a graph of small ops, else 1 (the course's graphs are chains of
    ops: measured on a one-tower 5.0, a second inter-op thread gave the same figures and no speed; 5.0's
    towers are not a chain and ask for one thread per tower)."""
    def env(name):
        value = os.environ.get(name, "")
        return int(value) if value.isdigit() and int(value) else None
    return (intra or env("TF_NUM_INTRAOP_THREADS") or env("OMP_NUM_THREADS") or (1 if inline else cores()),
            inter or env("TF_NUM_INTEROP_THREADS") or (INLINE if inline else 1))


def set_threads(intra=None, inter=None, inline=False):
    """Set TensorFlow's pools and Grappler's one pass (before the first Session: the Session's config, both);
    returns (intra, inter), or None if the pools could not be set because TensorFlow already runs (a notebook's
    second run keeps its first run's pools)."""
    global THREADS
    import tensorflow as tf
    intra, inter = thread_counts(intra, inter, inline)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        THREADS = (intra, inter)
    except RuntimeError:
        pass
    one_grappler_pass()
    return THREADS


def one_grappler_pass():
    """Grappler, the graph optimiser a Session runs on each new set of fetches and feeds (a step's training
    run, its figures' run, its test: a step makes three or four), by default goes twice over the graph and
    runs its memory optimiser: on 5.0's training run, 0.28 s, of which 0.12 s are the second pass (it merged
    12 duplicate nodes of 611) and the memory optimiser (it changed none); TF_CPP_VMODULE=meta_optimizer=1
    logs each optimiser's nodes and milliseconds. One pass without it prints the same figures, sooner.
    TensorFlow's public options do not reach these two, so the eager context's base config gets them, which
    every Session without a config of its own starts from (session.py)."""
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context
    ctx = context.context()
    if not hasattr(ctx, "_config"):    # another TensorFlow: its defaults
        return
    config = config_pb2.ConfigProto()
    if ctx._config is not None:
        config.CopyFrom(ctx._config)
    rewrites = config.graph_options.rewrite_options
    rewrites.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrites.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    ctx._config = config


def use(threads=None):
    """The pools for --threads unless a layout was set already (towers()); returns the device line. A graph of
    small ops (small(): 1.0's one layer) runs them on the training's own thread, each op on that one thread:
    handing each op to a pool thread costs a wake-up per op, which made 1.0 take 2.3-3.3 s instead of
    1.9-2.1 s, at one of two speeds at random from run to run (not traced), and splitting its small products
    over two threads cost more than it saved (1.73 s against 1.85 s, medians of 6 interleaved runs on 2
    cores); the figures are the same either way. The larger steps keep the pool thread and a thread per core:
    3.1 took 10% longer without the pool, 2.2 in a window 5.2 s against 4.0 (medians of 4 interleaved
    rounds)."""
    if THREADS is None:
        set_threads(threads, inline=small())
    return device_line()


SMALL = 100_000           # trainable numbers: 1.0 has 7,850, 2.x ~200,000, the convolutional steps more


def small():
    """Whether the graph built so far is small enough to run its ops on the training's thread: no convolution,
    fewer than SMALL trainable numbers."""
    import tensorflow as tf
    graph = tf.compat.v1.get_default_graph()
    if any(op.type.startswith("Conv") for op in graph.get_operations()):
        return False
    sizes = [v.shape.num_elements() for v in graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)]
    return None not in sizes and sum(sizes) < SMALL


def towers(threads=None, most=4):
    """5.0's layout: as many copies ("towers") of the network as --threads asks, else one per core, at most
    `most`, each on one thread: the pools become 1 thread per op and one per tower between ops. On a GPU,
    one tower and the usual pools (the GPU runs each op in parallel itself). Returns the tower count."""
    import tensorflow as tf
    cores = thread_counts(threads)[0]
    count = 1 if tf.config.list_physical_devices("GPU") else min(cores, most)
    set_threads(max(1, cores // count), count)
    return count


def device_line():
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    where = ("GPU: " + ", ".join(g.name for g in gpus)) if gpus else "CPU (TensorFlow sees no GPU)"
    plural = lambda n, what: f"{n} {what}" + ("s" if n != 1 else "")  # noqa: E731
    threads = ""
    if THREADS:
        between = "none" if THREADS[1] == INLINE else THREADS[1]
        threads = f", {plural(THREADS[0], 'thread')} per op, {between} between ops"
    return f"TensorFlow {tf.__version__}, training on {where}{threads}"


def quiet_tensorflow():
    """TensorFlow's start-up lines (oneDNN notices, deprecations of the 1.x API the course uses on purpose)
    would bury the course's output: set before TensorFlow is imported, overridable from the environment."""
    import logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "ipykernel" in sys.modules:   # in a Jupyter kernel, importing TensorFlow sets its logger to INFO on stdout
        import tensorflow  # noqa: F401
    logging.getLogger("tensorflow").setLevel(os.environ.get("TFVISU_TF_LOG_LEVEL", "ERROR"))
