"""The course's visualiser: what a step script calls, as in the course.

    import tensorflowvisu
    flags = tensorflowvisu.flags()        # before TensorFlow: --help and a typo are answered at once
    I = tensorflowvisu.tf_format_mnist_images(X, Y, Y_)             # in the graph: 100 digits, mistakes red
    datavis = tensorflowvisu.MnistDataVis()                         # announces the device it trains on
    datavis.append_training_curves_data(i, a, c); datavis.update_image1(im); ...     # from training_step
    datavis.animate(training_step, iterations, train_freq, test_freq)               # runs the training
    datavis.get_max_test_accuracy()

MnistDataVis keeps what it is given as plain data (lists and two images) and draws nothing itself. The
machinery is the package visualiser/: flags (the parser), device (threads, the device line), loop (the
run loop, Ctrl-C), panels (the drawing, from that data alone), files (PNG, movie), window, live + web +
notebook (a browser page, a Jupyter cell), board (TensorBoard). Only what a display mode needs is imported.
"""
import os
import sys

from visualiser import startup  # first: TFVISU_STARTUP_LOG=FILE times the start-up from here (its "tensorflowvisu")
import numpy as np

from visualiser import device, flags as parsing, loop as runloop

device.quiet_tensorflow()
_FLAGS = None             # the run's flags, read by flags(); MnistDataVis uses them
_FLAGS_ARGV = None        # the command line they were read from: a notebook's next cell has another


def flags(argv=None):
    """The flags every step script takes (--help lists them), read once; a bad one ends the script here, in
    one line, before TensorFlow is imported. From then on Ctrl-C and SIGTERM end the run cleanly. A script's
    run (no argv) then starts reading its data in a thread and imports TensorFlow (visualiser/startup.py)."""
    global _FLAGS, _FLAGS_ARGV
    lenient = argv is None and "ipykernel" in sys.modules      # %run in a notebook: the kernel's own flags
    _FLAGS = parsing.parse(argv, lenient=lenient)
    _FLAGS_ARGV = list(sys.argv) if argv is None else None
    if argv is None and not lenient:       # a script's own run (not a test's list, not a notebook's kernel)
        runloop.start_run()
    startup.mark("flags")
    if argv is None:                       # a script's run: the data read meanwhile, TensorFlow imported now
        startup.begin(_FLAGS.data_dir)
    return _FLAGS


def run_flags():
    """The flags flags() read, or the defaults (a notebook cell that builds MnistDataVis() itself, after a
    %run of a script with flags of its own)."""
    if _FLAGS is not None and _FLAGS_ARGV in (None, sys.argv):
        return _FLAGS
    return parsing.parse([])


def iterations(default):
    """How many iterations this run has: --iterations N, else the script's `default`. animate() applies the
    same rule to its own `iterations`; a script whose schedule depends on the length (5.0, 5.1) asks first."""
    return _run_length(run_flags(), default)


def _run_length(flags, default):
    return flags.iterations or default


def towers(threads=None, most=4):
    """5.0's layout: copies of its network, one per core (see visualiser.device.towers)."""
    return device.towers(threads, most)


def tf_format_mnist_images(X, Y, Y_, n=100, lines=10):
    """In the graph: n digits of X for a panel, every mistake first, then recognised digits; the panel shows
    them in `lines` lines, mistakes on red with the correct label small on the left and the computed one on
    the right. X [batch, 28, 28, 1] (or [batch, 784]) in 0..1; Y, Y_ [batch, 10] computed and correct.
    When the mistakes would fill more than 9/10 of the cells and the batch has more digits than cells (the test
    set early in training, or a hard data set), every 2nd (5th, 10th ...) digit is shown instead, so the end
    of the red still reads as the accuracy on the panel's scale ("per_cell").
    What sess.run returns is compact (the n digits as uint8 and their labels, ~80 KB for 1,000): the picture
    is put together in numpy only when a panel is drawn, so --text pays for a sort and a gather only
    (0.5 ms for 1,000 of 10,000 test digits, against 20 ms for building the picture in the graph)."""
    import tensorflow.compat.v1 as tf
    if n % lines:
        raise ValueError(f"tf_format_mnist_images: n={n} digits do not fill {lines} lines evenly")
    computed, correct_label = tf.argmax(Y, 1), tf.argmax(Y_, 1)
    correct = tf.equal(computed, correct_label)
    wrong, right = tf.where(tf.logical_not(correct))[:, 0], tf.where(correct)[:, 0]
    tested = tf.size(correct)
    strides = tf.constant([1, 2, 5, 10, 20, 50, 100], tf.int32)
    fits = tf.cast(tf.size(wrong) <= strides * (9 * n // 10), tf.int32)     # the first stride that fits
    per_cell = tf.minimum(strides[tf.minimum(tf.argmax(fits), 6)], tf.maximum(1, tested // n))
    every = lambda idx: tf.gather(idx, tf.range(0, tf.size(idx), per_cell))  # noqa: E731
    order = tf.concat([every(wrong), every(right)], 0)[:n]
    shown = tf.shape(order)[0]
    order = tf.pad(order, [[0, n - shown]])              # fewer than n digits fed: empty cells at the end
    digits = tf.cast(tf.gather(tf.reshape(X, [-1, 28, 28]), order) * 255 + 0.5, tf.uint8)   # [n, 28, 28]
    return {"digits": digits, "labels": tf.gather(correct_label, order), "computed": tf.gather(computed, order),
            "shown": shown, "lines": tf.constant(lines), "per_cell": per_cell, "tested": tested}


class MnistDataVis:
    """The data behind the six panels, and the run loop. Appends are cheap (a list append, and for the bands
    one np.percentile); nothing draws until a window, a movie frame or the PNG asks for it."""

    def __init__(self, title="", weights_title="weights", biases_title="biases"):
        startup.mark("graph")
        self.flags = run_flags()
        self.title = title or os.path.splitext(os.path.basename(sys.argv[0]))[0]
        if self.title.endswith("kernel_launcher"):     # a notebook cell, not a script run with %run
            self.title = "notebook"
        self.weights_title, self.biases_title = weights_title, biases_title
        self.train = ([], [], [])          # iterations, accuracies, losses
        self.test = ([], [], [])
        self.bands = ([], [], [])          # iterations, 8 weight percentiles, 8 bias percentiles
        self._images, self._pictures = {}, {}   # "training", "test": what tf_format_mnist_images fetched
        self.iteration = 0
        self.version = 0                   # bumped by every update: a display redraws only when it moved
        self.mode = self._choose_mode()
        print(device.use(self.flags.threads) + f"; display: {self.mode}", flush=True)
        self.board = None
        if self.flags.logdir:
            self.board = _extra("board", "--logdir").Board(self, self.flags.logdir)   # TensorBoard
        startup.mark("vis", awaits="drawn" if self.mode == "window" else None)

    # -- the course's API, called from training_step -----------------------------------------------------
    def append_training_curves_data(self, i, accuracy, loss):
        startup.mark("figures")           # the script prints its first training line next
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
        with np.errstate(invalid="ignore"):            # a diverged network's inf weights: NaN bands, drawn as gaps
            bands = np.percentile(np.ravel(weights), q), np.percentile(np.ravel(biases), q)
        self._append(self.bands, i, *bands)
        if self.board:
            self.board.histograms(i, weights, biases)

    def update_image1(self, im):
        """Panel 3, the training digits."""
        self._images["training"] = im
        self.version += 1

    def update_image2(self, im):
        """Panel 6, the test digits."""
        self._images["test"] = im
        self.version += 1

    def picture(self, which):
        """The picture [h, w, 3] uint8 of the training or the test digits (None before the first), made from
        what tf_format_mnist_images fetched the first time it is drawn (an RGB array is taken as it is)."""
        raw = self._images.get(which)
        if raw is None or isinstance(raw, np.ndarray):
            return raw
        cached = self._pictures.get(which)
        if cached is None or cached[0] is not raw:
            from visualiser import panels
            cached = self._pictures[which] = (raw, panels.digit_mosaic(raw))
        return cached[1]

    def digits_fetched(self, which):
        """What tf_format_mnist_images fetched last for `which` (None, or an RGB array given instead)."""
        raw = self._images.get(which)
        return raw if isinstance(raw, dict) else None

    def get_max_test_accuracy(self):
        # rounded: a float32 accuracy such as 0.9236 would otherwise print as 0.9236000180244446
        return round(max((a for a in self.test[1] if a == a), default=0.0), 6)

    def _append(self, series, i, *values):
        for column, v in zip(series, (int(i),) + values):
            column.append(v)
        self.iteration = max(self.iteration, int(i))
        self.version += 1

    # -- the run loop -------------------------------------------------------------------------------------
    def animate(self, compute_step, iterations, train_data_update_freq=20, test_data_update_freq=100,
                one_test_at_start=True, more_tests_at_start=False, save_movie=False):
        """Calls compute_step(i, update_test_data, update_train_data) for i = 0 .. iterations-1 (--iterations N:
        N calls), the last one tested, in text mode or behind the window; then writes the movie and the PNG
        if asked. Ctrl-C, SIGTERM or closing the window end it cleanly, with the summary."""
        startup.mark("session")
        from visualiser import files
        f = self.flags
        count = _run_length(f, iterations)
        movie_path = f.save_movie or (self.title + ".mp4" if save_movie else None)
        movie = files.MovieWriter(self, movie_path) if movie_path else None
        at = runloop.schedule(count, train_data_update_freq, test_data_update_freq, one_test_at_start,
                              more_tests_at_start)
        loop = runloop.Loop(compute_step, at, count, movie)
        try:
            self._display()(self, loop)
        except KeyboardInterrupt as e:     # between the loop's end and the display's (a window closing)
            loop.interrupted(e)
        finally:
            with runloop.outputs_guard(loop):
                if movie:
                    movie.close(complete=loop.error is None)
            if self.board:
                self.board.close()
        if loop.error:
            raise loop.error
        print(loop.summary(), flush=True)
        if f.save_png:
            with runloop.outputs_guard(loop):
                files.save_final_png(self, f.save_png)

    def _display(self):
        if self.mode == "window":
            from visualiser import window
            return lambda vis, loop: window.Window(vis, loop).run()
        if self.mode == "web":
            web = _extra("web", "--web")
            return lambda vis, loop: web.run(vis, loop, self.flags.web_host, self.flags.web)
        if self.mode == "notebook":
            return _extra("notebook", "the notebook display").run
        return lambda vis, loop: loop.run()

    def _choose_mode(self):
        if self.flags.text:
            return "text"
        if self.flags.web is not None:
            return "web"
        if "ipykernel" in sys.modules and _extra("notebook", "the notebook display").in_kernel():
            return "notebook"
        from visualiser import window
        problem = window.no_window_reason()
        if problem:
            print(f"tensorflowvisu: {problem}, so this run is text only (as with --text); --save-png and "
                  "--save-movie still draw the panels", flush=True)
            return "text"
        return "window"


def _extra(module, what):
    """A display module imported only when its mode is asked for; a missing package is one line."""
    import importlib
    try:
        return importlib.import_module("visualiser." + module)
    except ImportError as e:
        if not e.name or e.name.startswith("visualiser"):
            raise
        raise runloop.UserError(f"tensorflowvisu: {what} needs {e.name} (pip install {e.name})") from None
