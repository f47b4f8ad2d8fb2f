"""The course's visualiser: flags, the in-graph digit images, and the run loop behind the six panels.

What a step script calls, as in the course:
    flags = tensorflowvisu.flags()              # --text --iterations --save-movie --save-png --data-dir --seed
    I = tensorflowvisu.tf_format_mnist_images(X, Y, Y_)             # in the graph: 100 digits, mistakes red
    datavis = tensorflowvisu.MnistDataVis()
    datavis.append_training_curves_data(i, a, c); datavis.update_image1(im); ...     # from training_step
    datavis.animate(training_step, iterations, train_freq, test_freq)               # runs the training
    datavis.get_max_test_accuracy()

MnistDataVis keeps what it is given as plain data (lists and two images); visupanels draws from that data
alone, so the window, the PNG and the movie share one drawing code. In a window the training runs in a
worker thread (sess.run releases the GIL) and the GUI owns the main thread, redrawing at a pace that keeps
drawing to a few percent of the machine; in text mode the loop runs on the main thread and nothing draws.
Elsewhere, imported only when asked for: --web serves the same frames to a browser (visuweb), a Jupyter
kernel shows them in the cell (visunotebook), both drawn by visulive; --logdir writes TensorBoard events
(visuboard).
"""
import argparse
import logging
import os
import sys
import threading
import time

import numpy as np

# TensorFlow's start-up lines (oneDNN notices, deprecations of the 1.x API we use on purpose) would bury the
# course's output; set before TensorFlow is imported, and overridable from the environment.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "ipykernel" in sys.modules:   # in a Jupyter kernel, importing TensorFlow sets its logger to INFO on stdout
    import tensorflow  # noqa: F401
logging.getLogger("tensorflow").setLevel(os.environ.get("TFVISU_TF_LOG_LEVEL", "ERROR"))

DRAW_BUDGET = 0.10        # the window redraws only as often as keeps drawing under 10% of one core (a frame costs
                          # ~150 ms of CPU: a redraw every ~1.5 s, about 5% of this 2-core machine)
MIN_REDRAW_S = 0.25       # and at most 4 times a second
MOVIE_BUDGET = 0.08       # --save-movie: frames are skipped past 8% of the wall time (a frame: ~0.2 s of CPU)
_FLAGS = None
_FLAGS_ARGV = None        # the sys.argv _FLAGS was parsed from: a notebook's next %run brings a new one


def flags(argv=None):
    """The flags every step script takes, parsed once (the scripts hold no argument parsing)."""
    global _FLAGS, _FLAGS_ARGV
    if _FLAGS is not None and argv is None and _FLAGS_ARGV in (None, sys.argv):
        return _FLAGS
    p = argparse.ArgumentParser(
        prog=os.path.basename(sys.argv[0]) or "mnist_step.py",
        description="Train this step of 'TensorFlow and deep learning, without a PhD' and watch it in six "
                    "panels. Keys in the window: 1-6 one panel, 7 panels 1+2, 8 panels 4+5, 9 panels 3+6, "
                    "0 or ESC all six, SPACE pause, O box zoom, H reset zoom, Ctrl-S save a PNG, Q quit.")
    p.add_argument("--text", action="store_true", help="text only: no window, the same printed lines")
    p.add_argument("--iterations", type=_positive, metavar="N",
                   help="training iterations (default: the course's number for this step)")
    p.add_argument("--save-movie", nargs="?", const="", metavar="FILE",
                   help="save the panels as a movie, one frame per test evaluation: .mp4 (H.264 through "
                        "imageio-ffmpeg's own ffmpeg) or .gif (default FILE: <script>.mp4 in the current folder)")
    p.add_argument("--save-png", metavar="FILE", help="save the six panels as they stand at the end, as a PNG")
    p.add_argument("--data-dir", metavar="DIR",
                   help="a folder of MNIST-format IDX files (default: the MNIST bundled in data/)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed of the weights, dropout and batch order (default 0: two runs with the "
                        "same seed print the same figures on CPU)")
    p.add_argument("--threads", type=_positive, metavar="N",
                   help="TensorFlow's threads inside one operation (default: $TF_NUM_INTRAOP_THREADS, else "
                        "$OMP_NUM_THREADS, else one per core this process may use); between operations: 1, "
                        "or $TF_NUM_INTEROP_THREADS (5.0 runs N copies of its network instead, at most 4, one thread "
                        "each). The same seed gives the same figures at the same N")
    p.add_argument("--web", nargs="?", const=8000, type=_port, metavar="PORT",
                   help="no window: serve the live panels and their keys to a browser at http://127.0.0.1:PORT/ "
                        "(default PORT 8000; 0: any free port); the page stays up after the run until Ctrl-C")
    p.add_argument("--web-host", default="127.0.0.1", metavar="ADDR",
                   help="the address --web listens on (default 127.0.0.1, this machine only: reach it from "
                        "elsewhere with ssh -L 8000:127.0.0.1:8000; 0.0.0.0 lets anyone on the network watch "
                        "and press its keys)")
    p.add_argument("--logdir", metavar="DIR",
                   help="also write the run for TensorBoard into DIR/<step> (accuracy and loss, weights and "
                        "biases); compare steps with: tensorboard --logdir DIR")
    in_notebook = "ipykernel" in sys.modules and argv is None
    args = p.parse_known_args(argv)[0] if in_notebook else p.parse_args(argv)
    if args.save_movie == "":
        args.save_movie = os.path.splitext(os.path.basename(sys.argv[0]) or "mnist")[0] + ".mp4"
    for name in ("save_movie", "save_png"):
        path = getattr(args, name)
        if path is not None:
            problem = _output_problem(path, (".mp4", ".gif") if name == "save_movie" else (".png",))
            if problem:
                p.error(f"--{name.replace('_', '-')} {path}: {problem}")
    if argv is None:
        _FLAGS, _FLAGS_ARGV = args, list(sys.argv)
        set_threads(args.threads)
    return args


THREADS = None            # (intra-op, inter-op) as set by set_threads, for the device line


def thread_counts(intra=None, inter=None):
    """(intra-op, inter-op): --threads, else $TF_NUM_INTRAOP_THREADS, else $OMP_NUM_THREADS, else one per core
    this process may use; between ops `inter`, else $TF_NUM_INTEROP_THREADS, else 1 (the course's graphs are
    chains of ops: measured on a one-tower 5.0, a second inter-op thread gave the same figures and no speed;
    5.0's towers are not a chain and ask for one thread per tower)."""
    env = lambda name: int(os.environ[name]) if os.environ.get(name, "").isdigit() and int(os.environ[name]) else None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return intra or env("TF_NUM_INTRAOP_THREADS") or env("OMP_NUM_THREADS") or cores, inter or env("TF_NUM_INTEROP_THREADS") or 1


def set_threads(intra=None, inter=None):
    """TensorFlow's two thread pools, set before the first Session: tf.compat.v1.Session() without a config
    takes the eager context's (session.py: `config = context.context().config`)."""
    global THREADS
    intra, inter = thread_counts(intra, inter)
    if "tensorflow" not in sys.modules:      # the scripts import it first; nothing to set without it
        return None
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        THREADS = (intra, inter)
    except RuntimeError:                     # already running (a notebook's second run): keep its pools
        pass
    return THREADS


def towers(threads=None, most=4):
    """5.0's layout: as many copies ("towers") of the network as --threads asks, else one per core, at most
    `most`, each on one thread: the pools become 1 thread per op and one per tower between ops. On a GPU,
    one tower and the usual pools (the GPU runs each op in parallel itself). Returns the tower count."""
    import tensorflow as tf
    cores = thread_counts(threads)[0]
    count = 1 if tf.config.list_physical_devices("GPU") else min(cores, most)
    set_threads(max(1, cores // count), count)
    return count


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return n


def _port(text):
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _output_problem(path, extensions):
    """Why `path` cannot be written at the end of the run, or None: checked before any training."""
    if not path.lower().endswith(extensions):
        return "the name must end in " + " or ".join(extensions)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    if os.path.isdir(path):
        return "that is a folder"
    return None


def tf_format_mnist_images(X, Y, Y_, n=100, lines=10):
    """In the graph: n digits of X for a panel, every mistake first, then recognised digits; the panel shows
    them in `lines` lines, mistakes on red with the correct label small on the left and the computed one on
    the right. X [batch, 28, 28, 1] (or [batch, 784]) in 0..1; Y, Y_ [batch, 10] computed and correct.
    What sess.run returns is compact (the n digits as uint8 and their labels, ~80 KB for 1,000): the picture
    itself is put together in numpy only when a panel is drawn, so --text pays for a sort and a gather only
    (0.5 ms for 1,000 of 10,000 test digits, against 20 ms for building the picture in the graph)."""
    import tensorflow.compat.v1 as tf
    if n % lines:
        raise ValueError(f"tf_format_mnist_images: n={n} digits do not fill {lines} lines evenly")
    computed, correct_label = tf.argmax(Y, 1), tf.argmax(Y_, 1)
    correct = tf.equal(computed, correct_label)
    order = tf.concat([tf.where(tf.logical_not(correct))[:, 0], tf.where(correct)[:, 0]], 0)[:n]
    shown = tf.shape(order)[0]
    order = tf.pad(order, [[0, n - shown]])              # fewer than n digits fed: empty cells at the end
    digits = tf.cast(tf.gather(tf.reshape(X, [-1, 28, 28]), order) * 255 + 0.5, tf.uint8)   # [n, 28, 28]
    return {"digits": digits, "labels": tf.gather(correct_label, order), "computed": tf.gather(computed, order),
            "shown": shown, "lines": tf.constant(lines)}


def device_line():
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    where = ("GPU: " + ", ".join(g.name for g in gpus)) if gpus else "CPU (TensorFlow sees no GPU)"
    plural = lambda n, what: f"{n} {what}" + ("s" if n != 1 else "")
    threads = f", {plural(THREADS[0], 'thread')} per op, {THREADS[1]} between ops" if THREADS else ""
    return f"TensorFlow {tf.__version__}, training on {where}{threads}"


class MnistDataVis:
    """The data behind the six panels, and the run loop. Appends are cheap (a list append, and for the bands
    one np.percentile); nothing draws until a window, a movie frame or the PNG asks for it."""

    def __init__(self, title="", weights_title="weights", biases_title="biases", test_size=10000):
        self.flags = flags()
        self.title = title or os.path.splitext(os.path.basename(sys.argv[0]))[0]
        if self.title.endswith("kernel_launcher"):     # a notebook cell, not a script run with %run
            self.title = "notebook"
        self.weights_title, self.biases_title, self.test_size = weights_title, biases_title, test_size
        self.train = ([], [], [])          # iterations, accuracies, losses
        self.test = ([], [], [])
        self.bands = ([], [], [])          # iterations, 8 weight percentiles, 8 bias percentiles
        self._images, self._pictures = {}, {}   # panel 1, 2: what tf_format_mnist_images fetched, its picture
        self.iteration = 0
        self.version = 0                   # bumped by every update: the window redraws only when it moved
        self.mode = self._choose_mode()
        print(device_line() + f"; display: {self.mode}", flush=True)
        self.board = _extra("visuboard", "--logdir").Board(self) if self.flags.logdir else None  # TensorBoard

    # -- the course's API, called from training_step -----------------------------------------------------
    def append_training_curves_data(self, i, accuracy, loss):
        self._append(self.train, i, float(accuracy), float(loss))
        if self.board:
            self.board.scalars(i, "training", float(accuracy), float(loss))

    def append_test_curves_data(self, i, accuracy, loss):
        self._append(self.test, i, float(accuracy), float(loss))
        if self.board:
            self.board.scalars(i, "test", float(accuracy), float(loss))

    def append_data_histograms(self, i, weights, biases):
        """7 percentile bands each: the 8 boundaries min, 1/7, ..., 6/7, max of all the values."""
        q = np.linspace(0, 100, 8)
        self._append(self.bands, i, np.percentile(np.ravel(weights), q), np.percentile(np.ravel(biases), q))
        if self.board:
            self.board.histograms(i, weights, biases)

    def update_image1(self, im):
        self._images[1] = im
        self.version += 1

    def update_image2(self, im):
        self._images[2] = im
        self.version += 1

    # The panels' pictures, made from what tf_format_mnist_images fetched the first time they are drawn
    # (an RGB array given instead is taken as it is).
    image1 = property(lambda self: self._picture(1))
    image2 = property(lambda self: self._picture(2))

    def _picture(self, n):
        raw = self._images.get(n)
        if raw is None or isinstance(raw, np.ndarray):
            return raw
        cached = self._pictures.get(n)
        if cached is None or cached[0] is not raw:
            import visupanels
            cached = self._pictures[n] = (raw, visupanels.digit_mosaic(raw))
        return cached[1]

    def get_max_test_accuracy(self):
        # rounded: a float32 accuracy such as 0.9236 would otherwise print as 0.9236000180244446
        return round(max(self.test[1], default=0.0), 6)

    def _append(self, series, i, *values):
        for column, v in zip(series, (int(i),) + values):
            column.append(v)
        self.iteration = max(self.iteration, int(i))
        self.version += 1

    # -- the run loop -------------------------------------------------------------------------------------
    def animate(self, compute_step, iterations, train_data_update_freq=20, test_data_update_freq=100,
                one_test_at_start=True, more_tests_at_start=False, save_movie=False):
        """Calls compute_step(i, update_test_data, update_train_data) for i = 0 .. iterations-1 (the flag
        --iterations N makes it N+1 calls, the last one tested), in text mode or behind the window, then
        writes the movie and the PNG if asked. Ctrl-C or closing the window ends it cleanly."""
        f = self.flags
        last = f.iterations if f.iterations is not None else iterations - 1
        movie_path = f.save_movie or (self.title + ".mp4" if save_movie else None)

        def schedule(i):
            test = i % test_data_update_freq == 0 and (i > 0 or one_test_at_start)
            if more_tests_at_start and i < test_data_update_freq:
                test = i % train_data_update_freq == 0
            return test or i == last, i % train_data_update_freq == 0 or i == last

        import visupanels
        movie = visupanels.MovieWriter(self, movie_path) if movie_path else None
        loop = Loop(compute_step, schedule, last, movie)
        try:
            if self.mode == "window":
                visupanels.Window(self, loop).run()
            elif self.mode == "web":
                _extra("visuweb", "--web").run(self, loop, f.web_host, f.web)
            elif self.mode == "notebook":
                _extra("visunotebook", "the notebook display").run(self, loop)
            else:
                loop.run()
            if loop.error:
                raise loop.error
        finally:
            if movie:
                movie.close(complete=loop.error is None)
            if self.board:
                self.board.close()
        done = loop.stopped_at if loop.stopped_at is not None else last + 1
        print(f"trained {done:,} iterations in {loop.seconds:.1f} s ({loop.seconds / max(done, 1) * 100:.2f} s "
              "per 100 iterations, tests included)" + ("" if loop.stopped_at is None else
                                                      f"; stopped early, at {loop.stopped_at} of {last}"), flush=True)
        if f.save_png:
            visupanels.save_png(self, f.save_png)
            print(f"saved the panels to {f.save_png}", flush=True)

    def _choose_mode(self):
        if self.flags.text:
            return "text"
        if self.flags.web is not None:
            return "web"
        if "ipykernel" in sys.modules and _extra("visunotebook", "the notebook display").in_kernel():
            return "notebook"
        import visupanels
        problem = visupanels.no_window_reason()
        if problem:
            print(f"tensorflowvisu: {problem}, so this run is text only (as with --text); --save-png and "
                  "--save-movie still draw the panels", flush=True)
            return "text"
        return "window"


def _extra(module, what):
    """A display module imported only when its mode is asked for; a missing package is one line."""
    try:
        return __import__(module)
    except ImportError as e:
        raise SystemExit(f"tensorflowvisu: {what} needs {e.name} (pip install {e.name})") from None


class Loop:
    """The training loop: pausable and stoppable from the GUI thread, and safe to interrupt with Ctrl-C."""

    def __init__(self, compute_step, schedule, last, movie=None):
        self.compute_step, self.schedule, self.last, self.movie = compute_step, schedule, last, movie
        self.running = threading.Event()
        self.running.set()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.error = None
        self.stopped_at = None
        self.seconds = 0.0

    def run(self):
        start = time.perf_counter()
        i = 0
        try:
            for i in range(self.last + 1):
                while not self.running.wait(0.1):       # paused: the GUI's SPACE clears `running`
                    if self.stop.is_set():
                        break
                if self.stop.is_set():
                    self.stopped_at = i
                    break
                test, train = self.schedule(i)
                self.compute_step(i, test, train)
                if test and self.movie:
                    self.movie.frame()
        except KeyboardInterrupt:
            self.stopped_at = i
            print(f"\ninterrupted (Ctrl-C) at iteration {i}", flush=True)
        except BaseException as e:   # the GUI thread re-raises it once the window is gone
            self.error = e
        finally:
            self.seconds = time.perf_counter() - start
            self.done.set()
