"""The six panels, drawn from a MnistDataVis's plain data: in a window, into a PNG, into a movie.

tensorflowvisu is what the scripts call; this file is its drawing half and the only one that imports
matplotlib. Artists are created once and only their data changes (set_data), so a redraw costs one Agg
render of the figure (about 150-200 ms of CPU at 1280x720 here) and never a re-layout. The window (GUI on the main
thread, training in a worker) redraws only when the data moved and no more often than keeps drawing within
tensorflowvisu.DRAW_BUDGET of the wall time.
"""
import os
import sys
import threading
import time

import numpy as np

WHITE, RED, EMPTY = (1.0, 1.0, 1.0), (0.95, 0.42, 0.40), (0.92, 0.92, 0.93)   # cell backgrounds
INK, LABEL = (0.08, 0.08, 0.12), (1.0, 1.0, 1.0)                              # strokes, labels on mistakes
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"
FIGSIZE, DPI = (12.8, 7.2), 100          # 1280 x 720: the movie's frame size too
# Panel n (1..6) sits in slot (row, column) of the 2 x 3 grid; keys 7, 8, 9 show two panels side by side.
SLOTS = {1: (0, 0), 4: (0, 1), 5: (0, 2), 2: (1, 0), 3: (1, 1), 6: (1, 2)}
LAYOUTS = {str(k): (k,) for k in range(1, 7)} | {"7": (1, 2), "8": (4, 5), "9": (3, 6), "0": tuple(range(1, 7))}
LAYOUTS["escape"] = LAYOUTS["0"]
FONT = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
        "111100111001111", "111100111101111", "111001010010010", "111101111101111", "111101111001111"]


def label_glyphs():
    """float32 [2, 10, 28, 28]: digit d drawn 6x10 pixels in a cell's top-left corner ([0]) and its
    top-right corner ([1]), where a mistake shows its correct and its computed label."""
    out = np.zeros((2, 10, 28, 28), np.float32)
    for d, bits in enumerate(FONT):
        glyph = np.array([int(b) for b in bits], np.float32).reshape(5, 3).repeat(2, 0).repeat(2, 1)
        out[0, d, 1:11, 1:7] = glyph
        out[1, d, 1:11, 21:27] = glyph
    return out


_GLYPHS = label_glyphs()


def digit_mosaic(raw):
    """The picture [lines*28, n/lines*28, 3] uint8 of what tf_format_mnist_images fetched: ink on white,
    mistakes on red with both labels, empty cells grey. Cost: ~5 ms for 1,000 digits, done only to draw."""
    digits, labels, computed = raw["digits"], np.asarray(raw["labels"]), np.asarray(raw["computed"])
    n, lines = len(digits), int(raw["lines"])
    valid = np.arange(n) < int(raw["shown"])
    wrong = (labels != computed) & valid
    ink = (digits.astype(np.float32) * (1 / 255) * valid[:, None, None])[..., None]          # [n, 28, 28, 1]
    background = np.where(valid[:, None], np.where(wrong[:, None], RED, WHITE), EMPTY).astype(np.float32)
    rgb = background[:, None, None, :] * (1 - ink) + np.float32(INK) * ink
    marks = (np.maximum(_GLYPHS[0][labels], _GLYPHS[1][computed]) * wrong[:, None, None])[..., None]
    rgb = rgb * (1 - marks) + np.float32(LABEL) * marks
    tiles = rgb.reshape(lines, n // lines, 28, 28, 3).transpose(0, 2, 1, 3, 4)
    return (tiles.reshape(lines * 28, n // lines * 28, 3) * 255 + 0.5).astype(np.uint8)


def slot_rect(row, col, rows=2, cols=3, left=0.045, right=0.975, bottom=0.06, top=0.91, wgap=0.075, hgap=0.1):
    w = (right - left - wgap * (cols - 1)) / cols
    h = (top - bottom - hgap * (rows - 1)) / rows
    return [left + col * (w + wgap), top - h - row * (h + hgap), w, h]


class Panels:
    """The six axes of a figure and the artists in them, updated from `vis` by draw()."""

    def __init__(self, fig, vis):
        self.fig, self.vis = fig, vis
        self.ax = {n: fig.add_axes(slot_rect(*SLOTS[n])) for n in range(1, 7)}
        self.images = {}
        for n, title in ((1, "training digits"), (2, "test digits")):
            ax = self.ax[n]
            self.images[n] = ax.imshow(np.ones((28, 28, 3)), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=10)
        self.scale = None                  # panel 2's accuracy scale, made with the first test image
        self.lines = {}
        for n, what in ((3, "loss"), (4, "accuracy")):
            ax = self.ax[n]
            self.lines[n] = (ax.plot([], [], color=TRAIN_COLOR, lw=0.8, alpha=0.8, label="training (batch)")[0],
                             ax.plot([], [], color=TEST_COLOR, lw=1.6, marker="o", ms=3, label="test (all)")[0])
            ax.legend(loc="upper right" if what == "loss" else "lower right", fontsize=8, frameon=False)
            ax.grid(alpha=0.3)
        self.bands = {}
        for n, cmap in ((5, "Blues"), (6, "Oranges")):
            import matplotlib
            colors = matplotlib.colormaps[cmap]([0.35, 0.5, 0.7, 0.9, 0.7, 0.5, 0.35])   # darkest: median
            self.bands[n] = [self.ax[n].fill_between([0], [0], [0], color=c, lw=0) for c in colors]
            self.ax[n].grid(alpha=0.3)
        for ax in self.ax.values():
            ax.tick_params(labelsize=8)
        self.status = fig.text(0.5, 0.975, "", ha="center", va="top", fontsize=11)
        self.auto_limits = {}              # the limits draw() set last; anything else is the user's zoom
        self.layout = "0"

    def set_layout(self, key):
        shown = LAYOUTS[key]
        rects = ([slot_rect(*SLOTS[n]) for n in shown] if len(shown) == 6 else
                 [slot_rect(0, k, rows=1, cols=len(shown), bottom=0.07, wgap=0.09) for k in range(len(shown))])
        for n, ax in self.ax.items():
            ax.set_visible(n in shown)
        for n, rect in zip(shown, rects):
            self.ax[n].set_position(rect)
        if self.scale is not None:
            self.scale.set_visible(2 in shown)
        self.layout = key

    def reset_zoom(self):
        self.auto_limits = {}

    def _limits(self, n, xlim, ylim):
        ax = self.ax[n]
        if n in self.auto_limits and (ax.get_xlim(), ax.get_ylim()) != self.auto_limits[n]:
            return                         # zoomed by the user (O): keep it until H
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        self.auto_limits[n] = (ax.get_xlim(), ax.get_ylim())

    def draw(self, status=""):
        """Update every artist from the data (cheap: set_data only); the caller renders the figure."""
        v = self.vis
        self.status.set_text(f"{v.title}   iteration {v.iteration:,}" + (f"   {status}" if status else ""))
        for n, im in ((1, v.image1), (2, v.image2)):
            if im is not None and self.images[n].get_array() is not im:
                self.images[n].set_data(im)
                h, w = im.shape[:2]
                self.images[n].set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
                self._limits(n, (-0.5, w - 0.5), (h - 0.5, -0.5))
        if v.image2 is not None and self.scale is None:
            self._make_scale(v.image2.shape[1] // 28)
        last = max(v.iteration, 10) * 1.03
        train, t, bands = snapshot(v.train), snapshot(v.test), snapshot(v.bands)
        for n, col in ((3, 2), (4, 1)):
            train_line, test_line = self.lines[n]
            train_line.set_data(train[0], train[col])
            test_line.set_data(t[0], t[col])
        loss = np.asarray(train[2][len(train[2]) // 10:] + t[2], float)   # skip the first, huge ones
        loss = loss[np.isfinite(loss)]
        self._limits(3, (0, last), (0, (np.percentile(loss, 98) * 1.15 if len(loss) else 1.0) or 1.0))
        acc = np.asarray(train[1][len(train[1]) // 10:] + t[1], float)
        low = min(0.9, np.floor(np.percentile(acc, 3) * 50) / 50) if len(acc) else 0.9
        self._limits(4, (0, last), (low, 1.0 + (1 - low) * 0.02))
        self.ax[3].set_title("cross-entropy loss" + (f": test {t[2][-1]:.2f}" if t[2] else ""), fontsize=10)
        self.ax[4].set_title("accuracy" + (f": test {t[1][-1]:.2%} (max {max(t[1]):.2%})" if t[1] else ""),
                             fontsize=10)
        steps = np.asarray(bands[0], float)
        for n, col, title in ((5, 1, v.weights_title), (6, 2, v.biases_title)):
            b = np.asarray(bands[col], float).reshape(len(steps), 8)
            for k, band in enumerate(self.bands[n]):
                band.set_data(steps, b[:, k], b[:, k + 1])
            if len(steps):
                lo, hi = b.min(), b.max()
                margin = (hi - lo) * 0.05 or 0.1
                self._limits(n, (0, last), (lo - margin, hi + margin))
            full = f"{title}: 7 percentile bands" + (f", {b[-1, 0]:.2g} .. {b[-1, -1]:.2g}" if len(steps) else "")
            # a panel's width holds about 55 characters at this size: the batch-norm steps' longer title wraps
            self.ax[n].set_title(full.replace(": ", ":\n", 1) if len(full) > 55 else full, fontsize=10)

    def _make_scale(self, cols):
        """Panel 2's right-hand scale: the row where the red (mistakes come first) stops, read as the
        test accuracy over the vis.test_size digits tested."""
        n = self.vis.test_size
        self.scale = self.ax[2].secondary_yaxis(
            "right", functions=(lambda y: 1 - (np.asarray(y) + 0.5) / 28 * cols / n,
                                lambda a: (1 - np.asarray(a)) * n / cols * 28 - 0.5))
        from matplotlib.ticker import PercentFormatter
        self.scale.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        self.scale.tick_params(labelsize=8)
        self.scale.set_visible(self.ax[2].get_visible())


def snapshot(columns):
    """The columns of a series cut to a common length: in a window the training thread appends to them
    (one column after the other) while the GUI thread draws."""
    n = min(len(c) for c in columns)
    return [c[:n] for c in columns]


def agg_figure(vis):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return Panels(fig, vis)


def save_png(vis, path, status="", panels=None):
    """The panels as they stand, written to a temporary file first so that `path` is never half-written."""
    panels = panels or agg_figure(vis)
    panels.draw(status or f"max test accuracy {vis.get_max_test_accuracy():.2%}")
    tmp = path + ".part"
    try:
        panels.fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class MovieWriter:
    """A frame per call of frame() (the loop calls it at every test evaluation) while rendering stays within
    tensorflowvisu.MOVIE_BUDGET of the wall time; over budget a frame is skipped, and the last state is
    always the last frame. A frame costs ~0.2 s of CPU: a 2,000-iteration run of 3.1 (~20 s) keeps about
    8 of its 26 test evaluations, a full run more. .mp4 through imageio-ffmpeg's bundled ffmpeg (no system
    ffmpeg), or .gif through Pillow (matplotlib's own dependency). Written beside `path`, renamed at the end."""

    def __init__(self, vis, path):
        import tensorflowvisu
        self.path, self.vis, self.panels, self.frames, self.skipped = path, vis, agg_figure(vis), 0, 0
        self.budget, self.start, self.spent, self.drawn = tensorflowvisu.MOVIE_BUDGET, time.perf_counter(), 0.0, None
        self.gif = path.lower().endswith(".gif")
        self.tmp = path + ".part" + (".gif" if self.gif else ".mp4")
        if self.gif:
            self.images = []
        else:
            try:
                import imageio_ffmpeg
            except ImportError:
                raise SystemExit("tensorflowvisu: --save-movie with .mp4 needs imageio-ffmpeg "
                                 "(pip install imageio-ffmpeg), or give a .gif name") from None
            w, h = self.panels.fig.canvas.get_width_height()
            self.writer = imageio_ffmpeg.write_frames(self.tmp, (w, h), fps=8, codec="libx264", quality=6,
                                                      macro_block_size=8)
            self.writer.send(None)

    def frame(self, force=False):
        begin = time.perf_counter()
        if not force and self.frames and self.spent > self.budget * (begin - self.start):
            self.skipped += 1
            return
        self.drawn = self.vis.version
        self.panels.draw()
        canvas = self.panels.fig.canvas
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        if self.gif:
            from PIL import Image
            self.images.append(Image.fromarray(rgb[::2, ::2]).quantize(64))   # 640 x 360, 64 colours
        else:
            self.writer.send(np.ascontiguousarray(rgb))
        self.frames += 1
        self.spent += time.perf_counter() - begin

    def close(self, complete=True):
        if complete and self.frames and self.drawn != self.vis.version:
            self.frame(force=True)                  # the end of the run is always in the movie
        if self.gif:
            if complete and self.images:
                self.images[0].save(self.tmp, save_all=True, append_images=self.images[1:], duration=125,
                                    loop=0)
        else:
            self.writer.close()
        if complete and self.frames and os.path.exists(self.tmp):
            os.replace(self.tmp, self.path)
            print(f"saved the movie ({self.frames} frames; {self.skipped} test evaluations skipped to keep "
                  f"drawing within {self.budget:.0%} of the time) to {self.path}", flush=True)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


def no_window_reason():
    """Why no window can open here (a short phrase), or None when one can."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display ($DISPLAY is not set)"
    import matplotlib.pyplot as plt
    backend = plt.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or "inline" in backend:
        try:
            import tkinter  # noqa: F401
        except ImportError:
            return "matplotlib has no GUI toolkit for a window (Debian/Ubuntu: apt install python3-tk)"
        return f"matplotlib cannot open a window on the display {os.environ.get('DISPLAY', '')!r}"
    return None


class GuiFrames:
    """Movie frames drawn on the GUI thread while the training loop waits for them (matplotlib is not
    thread-safe): the loop's movie becomes this object, and the GUI thread's tick calls serve_frame()."""

    def take_movie(self, loop):
        self.frame_wanted, self.frame_done, self.movie = threading.Event(), threading.Event(), None
        if loop.movie is not None:
            self.movie, loop.movie = loop.movie, self

    def frame(self):                 # called by the loop (worker thread) at every test evaluation
        self.frame_done.clear()
        self.frame_wanted.set()
        while not self.frame_done.wait(0.1) and not self.loop.stop.is_set():
            pass

    def serve_frame(self):           # on the GUI thread
        if self.frame_wanted.is_set():
            self.frame_wanted.clear()
            self.movie.frame()
            self.frame_done.set()


class Window(GuiFrames):
    """The live window: the GUI on the main thread (Tk, like Cocoa, must not be touched from another); the
    training loop in a worker thread; every 50 ms tick() redraws if the data moved, within the draw budget."""

    def __init__(self, vis, loop):
        import matplotlib.pyplot as plt
        import tensorflowvisu
        self.vis, self.loop, self.plt = vis, loop, plt
        self.budget, self.min_wait = tensorflowvisu.DRAW_BUDGET, tensorflowvisu.MIN_REDRAW_S
        self.fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
        self.panels = Panels(self.fig, vis)
        canvas = self.fig.canvas
        canvas.manager.set_window_title(f"{vis.title}: TensorFlow and deep learning, without a PhD")
        # matplotlib's default keys (s save dialog, l/k log scales, g grid, ...) would fire on top of ours.
        canvas.mpl_disconnect(canvas.manager.key_press_handler_id)
        canvas.mpl_connect("key_press_event", self.on_key)
        canvas.mpl_connect("close_event", lambda event: self.stop())
        self.drawn, self.next_draw, self.draw_seconds, self.draws = -1, 0.0, 0.0, 0
        self.message, self.finished = "", False
        self.take_movie(loop)

    def run(self):
        """Our own event loop: 50 ms of GUI events, then tick(), until the window closes. Not plt.show():
        Ctrl-C must reach us even while Tk sits in its loop (a KeyboardInterrupt raised inside a Tk callback
        is only printed), so SIGINT just sets a flag that the next slice reads."""
        import signal
        worker = threading.Thread(target=self.loop.run, name="training", daemon=True)
        worker.start()
        interrupted = []
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1)) if on_main else None
        try:
            self.plt.show(block=False)
            while self.plt.fignum_exists(self.fig.number) and not interrupted:
                self.fig.canvas.start_event_loop(0.05)
                self.tick()
        finally:
            if on_main:
                signal.signal(signal.SIGINT, previous)
            if interrupted:
                print(f"\ninterrupted (Ctrl-C) at iteration {self.vis.iteration}", flush=True)
                self.loop.stopped_at = self.vis.iteration
            self.stop()
            worker.join()
            self.plt.close(self.fig)

    def stop(self):
        self.loop.stop.set()
        self.loop.running.set()

    def tick(self):
        self.serve_frame()
        if self.loop.done.is_set() and not self.finished:
            self.finished = True
            if self.loop.error is not None:
                self.plt.close(self.fig)
                return
            self.message = (f"finished: max test accuracy {self.vis.get_max_test_accuracy():.2%}; "
                            "close the window to end")
            print(f"training finished; {self.message}", flush=True)
            self.drawn = -1
        now = time.perf_counter()
        if self.drawn != self.vis.version and now >= self.next_draw:
            self.redraw()
            self.next_draw = time.perf_counter() + max(self.min_wait, self.draw_seconds / self.draws / self.budget)

    def redraw(self):
        start = time.perf_counter()
        self.drawn = self.vis.version
        paused = "" if self.loop.running.is_set() else "PAUSED (SPACE resumes)"
        self.panels.draw(" ".join(filter(None, (paused, self.message))))
        self.fig.canvas.draw()
        self.draw_seconds += time.perf_counter() - start
        self.draws += 1

    def on_key(self, event):
        key, toolbar = event.key, self.fig.canvas.toolbar
        if key in LAYOUTS:
            self.panels.set_layout(key)
        elif key == " ":
            (self.loop.running.clear if self.loop.running.is_set() else self.loop.running.set)()
        elif key in ("o", "O") and toolbar is not None:
            toolbar.zoom()
        elif key in ("h", "H"):
            if toolbar is not None:
                toolbar.home()
            self.panels.reset_zoom()
        elif key == "ctrl+s":
            path = os.path.abspath(f"{self.vis.title}-{self.vis.iteration}.png")
            save_png(self.vis, path)
            self.message = f"saved {path}"
            print(f"saved the panels to {path}", flush=True)
        elif key in ("q", "ctrl+w"):
            self.plt.close(self.fig)
            return
        else:
            return
        self.redraw()
