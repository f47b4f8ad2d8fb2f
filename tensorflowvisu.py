"""The course's visualiser: what a step script calls, as in the course.

    import tensorflowvisu
    flags = tensorflowvisu.flags()        # before TensorFlow: --help and a typo are answered at once
    I = tensorflowvisu.tf_format_mnist_images(X, Y, Y_)             # in the graph: 100 digits, mistakes red
    datavis = tensorflowvisu.MnistDataVis()                         # announces the device it trains on
    datavis.append_training_curves_data(i, a, c); datavis.update_image1(im); ...     # from training_step
    datavis.animate(training_step, iterations, train_freq, test_freq)               # runs the training
    datavis.get_max_test_accuracy()

MnistDataVis keeps what it is given as plain data (lists and two images), publishes it after each training
step, and draws nothing itself. The machinery is the package visualiser/ (its __init__ draws its map). Only
what a display mode needs is imported.
"""
import os
import sys

from visualiser import startup  # first: TFVISU_STARTUP_LOG=FILE times the start-up from here (its "tensorflowvisu")
import numpy as np

from visualiser import device, options, runloop

device.quiet_tensorflow()
_FLAGS = None             # the run's flags, read by flags(); MnistDataVis uses them
_FLAGS_ARGV = None        # the command line they were read from: a notebook's next cell has another


def flags(argv=None):
    """The flags every step script takes (--help lists them), read once; a bad one ends the script here, in
    one line, before TensorFlow is imported. From then on Ctrl-C and SIGTERM end the run cleanly. A script's
    run (no argv) then starts reading its data in a thread and imports TensorFlow (visualiser/startup.py)."""
    global _FLAGS, _FLAGS_ARGV
    lenient = argv is None and "ipykernel" in sys.modules      # %run in a notebook: the kernel's own flags
    _FLAGS = options.parse(argv, lenient=lenient)
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
    return options.parse([])


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
    What sess.run returns is compact (the n digits as uint8 and their labels, ~80 KB for 1,000, and the
    confusion matrix of every digit fed, 400 bytes): the picture
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
    # rows: the correct digit, columns: the one computed, over every digit fed (the look-inside view's
    # mistakes by digit): int32 [10, 10], 400 bytes, no extra pass over the digits. tf.math.confusion_matrix's
    # matrix as a bincount: 23 ops instead of its 101 (range checks that labels from argmax always pass); its
    # share of a test run: benchmarks/inside_cost.py
    with tf.name_scope("confusion"):
        pairs = tf.cast(correct_label * 10 + computed, tf.int32)
        confusion = tf.reshape(tf.math.bincount(pairs, minlength=100, maxlength=100), [10, 10])
    return {"digits": digits, "labels": tf.gather(correct_label, order), "computed": tf.gather(computed, order),
            "shown": shown, "lines": tf.constant(lines), "per_cell": per_cell, "tested": tested,
            "confusion": confusion}


class MnistDataVis:
    """The data behind the six panels, and the run loop. Appends are cheap (a list append, and for the bands
    one np.percentile); nothing draws until a window, a movie frame or the PNG asks for it, and then only
    what publish() published last."""

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
        self._images = {}                  # "training", "test": what tf_format_mnist_images fetched
        self.iteration = 0
        self.version = 0                   # bumped by every update
        self.published, self._published_version, self._updates = None, 0, 0
        self.first_early = False           # a screen waits for the first picture: see _first_figures
        self.inside, self.views = None, {}     # the look-inside view (key I): made by animate
        self.first_view = "i" if self.flags.view == "inside" else "0"
        self.mode = self._choose_mode()
        print(device.use(self.flags.threads) + f"; display: {self.mode}", flush=True)
        self.board = None
        if self.flags.logdir:
            self.board = _extra("board", "--logdir").Board(self, self.flags.logdir)   # TensorBoard
        startup.mark("vis", awaits="drawn" if self.mode == "window" else None)

    def append_training_curves_data(self, i, accuracy, loss):
        startup.mark("figures")           # the script prints its first training line next
        self._append(self.train, i, float(accuracy), float(loss))
        if self.board:
            self.board.scalars(i, "training", float(accuracy), float(loss))
        self._first_figures()

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
        self._first_figures()

    def update_image1(self, im):
        """Panel 3, the training digits."""
        self._images["training"] = im
        self.version += 1
        self._first_figures()

    def update_image2(self, im):
        """Panel 6, the test digits."""
        self._images["test"] = im
        self.version += 1

    def publish(self, i=None, step_done=True):
        """What a frame may show, in one assignment: called after each training step (animate does it), so
        that the display, on its own thread, never draws half a step (iteration i, the lengths of the three
        series, the two pictures, how many steps brought new data). Returns it. step_done=False: the first
        step's training figures alone (_first_figures), not yet counted as a step that brought new data."""
        if step_done and self.version != self._published_version:
            self._published_version, self._updates = self.version, self._updates + 1
        self.published = (self.iteration if i is None else int(i), min(map(len, self.train)),
                          min(map(len, self.test)), min(map(len, self.bands)), self._images.get("training"),
                          self._images.get("test"), self._updates)
        return self.published

    def _first_figures(self):
        """With a screen waiting for its first picture (first_early), the first training figures are published
        as soon as all three are in (curves, bands, digits), before the step goes on to its test and its update:
        the window shows them while the first test runs (10,000 digits: 0.5 s for 3.1, more for 4.2), the test's
        panels filled at the next frame. Every later publish() comes after a whole step."""
        if self.first_early and self.published is None and self.train[0] and self.bands[0] \
                and self._images.get("training") is not None:
            self.publish(step_done=False)

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
        """Calls compute_step(i, update_test_data, update_train_data) for i = 0 .. iterations-1, the last one
        tested, in text mode or behind the window; then writes the movie and the PNG if asked. A script passes
        `flags.iterations or` its own number, so that --iterations N is N calls, in sight in the script.
        Ctrl-C, SIGTERM or closing the window end it cleanly, with the summary."""
        startup.mark("session")
        f = self.flags
        count = iterations
        at = runloop.schedule(count, train_data_update_freq, test_data_update_freq, one_test_at_start,
                              more_tests_at_start)

        def step(i, test, train):
            startup.mark("loop")           # the first step begins (the start-up log's; runloop stays a leaf)
            compute_step(i, test, train)
            self.inside.after_step(i, test)         # the look-inside view's reads: only while it is shown
            self.publish(i)
        loop = runloop.Loop(step, at, count)
        from visualiser import inside_live
        self.inside = inside_live.Live(self, compute_step, loop)
        self.views = {inside_live.KEY: inside_live.View}
        movie_path = f.save_movie or (self.title + ".mp4" if save_movie else None)
        film = None
        if movie_path:
            from visualiser import movie
            film = movie.Movie(self, movie_path, at, count)
        try:
            self._display(film)(self, loop, film)
        except KeyboardInterrupt as e:     # between the loop's end and the display's (a window closing)
            loop.interrupted(e)
        finally:
            with runloop.outputs_guard(loop):
                if film:
                    film.close(complete=loop.error is None)
            if self.board:
                self.board.close()
        if loop.error:
            raise loop.error
        print(loop.summary(), flush=True)
        if f.save_png:
            with runloop.outputs_guard(loop):
                from visualiser import display
                display.save_final_png(self, f.save_png, count)

    def _display(self, film):
        if self.mode == "window":
            from visualiser import window
            return window.run
        if self.mode == "web":
            web = _extra("web", "--web")
            return lambda vis, loop, film: web.run(vis, loop, self.flags.web_host, self.flags.web, film)
        if self.mode == "notebook":
            return _extra("notebook", "the notebook display").run
        if film:
            from visualiser import movie
            return movie.run
        return lambda vis, loop, film: loop.run()

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
