"""The six panels, drawn from a MnistDataVis's plain data: one drawing code for the window, the PNG, the
movie, the browser page and the notebook. The only module that imports matplotlib (lazily).

Numbered as the course's visualiser numbers them, its 2 x 3 grid read row by row (the keys depend on it):
    1 accuracy        2 cross-entropy loss   3 training digits
    4 weights         5 biases               6 test digits
Keys 1-6 show one panel alone, 7 the two curves (1 + 2), 8 the two band graphs (4 + 5), 9 the two digit
panels (3 + 6), 0 or ESC all six. Artists are created once and only their data changes (set_data), so a
redraw costs one Agg render of the figure (about 150-200 ms of CPU at 1280x720 on a 2-core AMD EPYC) and
never a re-layout.
"""
import numpy as np

TITLES = {1: "accuracy", 2: "cross-entropy loss", 3: "training digits", 4: "weights", 5: "biases",
          6: "test digits"}
SLOTS = {n: divmod(n - 1, 3) for n in TITLES}          # panel -> (row, column) of the 2 x 3 grid
LAYOUTS = {str(n): (n,) for n in TITLES} | {"7": (1, 2), "8": (4, 5), "9": (3, 6), "0": tuple(TITLES)}
LAYOUTS["escape"] = LAYOUTS["0"]
# the keys as the window, the page's buttons and the notebook's buttons offer them: (key, label)
KEYS = [(str(n), f"{n} {TITLES[n]}") for n in TITLES] + [
    ("7", "7 panels 1+2"), ("8", "8 panels 4+5"), ("9", "9 panels 3+6"), ("0", "0 all six"),
    (" ", "SPACE pause / resume"), ("h", "H reset zoom"), ("q", "Q stop the training")]

WHITE, RED, EMPTY = (1.0, 1.0, 1.0), (0.95, 0.42, 0.40), (0.92, 0.92, 0.93)   # cell backgrounds
INK, LABEL = (0.08, 0.08, 0.12), (1.0, 1.0, 1.0)                              # strokes, labels on mistakes
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"
FIGSIZE, DPI = (12.8, 7.2), 100          # 1280 x 720: the movie's frame size too
FONT = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
        "111100111001111", "111100111101111", "111001010010010", "111101111101111", "111101111001111"]
OUTLIER = 10              # a test loss over 10x the largest training loss is off the loss panel's scale


def label_glyphs():
    """float32 [2, 10, 28, 28]: digit d in a mistake's cell, [0] the correct label in small print (3x5
    pixels) near the top-left corner, [1] the computed label twice that size near the top-right corner. The
    two stand 4 pixels from the next cell's, and differ in size, so neighbours' labels never read as one
    number ("15 43")."""
    out = np.zeros((2, 10, 28, 28), np.float32)
    for d, bits in enumerate(FONT):
        glyph = np.array([int(b) for b in bits], np.float32).reshape(5, 3)
        out[0, d, 2:7, 2:5] = glyph
        out[1, d, 1:11, 20:26] = glyph.repeat(2, 0).repeat(2, 1)
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


def slot_rect(row, col, rows=2, cols=3, left=0.05, right=0.975, bottom=0.06, top=0.91, wgap=0.075, hgap=0.1):
    w = (right - left - wgap * (cols - 1)) / cols
    h = (top - bottom - hgap * (rows - 1)) / rows
    return [left + col * (w + wgap), top - h - row * (h + hgap), w, h]


def finite(values):
    a = np.asarray(values, float)
    return a[np.isfinite(a)]


def loss_limits(train, test, last):
    """(top, outlier): the loss panel's upper limit, and the largest test point left above it as (i, loss)
    or None. The first tenth of the run is left out of the limit (its losses are ten times the later ones);
    so is a test loss over OUTLIER x the largest training loss (a batch-norm network tested before its moving
    averages are filled: 1e10-1e12 at iteration 0), which would flatten every curve onto zero."""
    ceiling = OUTLIER * max(finite(train[2]).max(initial=0.0), 1.0)
    later = lambda i, v: [x for j, x in zip(i, v) if j >= last * 0.1]  # noqa: E731
    pool = finite(later(train[0], train[2]) + [x for x in later(test[0], test[2]) if x <= ceiling])
    if not len(pool):
        pool = finite(train[2] + [x for x in test[2] if x <= ceiling])
    top = float(np.percentile(pool, 98)) * 1.15 if len(pool) else 1.0
    off = [(i, x) for i, x in zip(test[0], test[2]) if np.isfinite(x) and x > ceiling]
    return top or 1.0, max(off, key=lambda p: p[1]) if off else None


class Panels:
    """The six axes of a figure and the artists in them, updated from `vis` by draw()."""

    def __init__(self, fig, vis):
        import matplotlib
        self.fig, self.vis = fig, vis
        self.ax = {n: fig.add_axes(slot_rect(*SLOTS[n])) for n in TITLES}
        self.images = {}
        for n in (3, 6):
            ax = self.ax[n]
            self.images[n] = ax.imshow(np.ones((28, 28, 3)), interpolation="antialiased")  # keeps 1-px strokes
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(TITLES[n], fontsize=10)
        self.scale_of = {"cols": 40, "per_cell": 1, "tested": 10000}   # what panel 6's scale reads from
        self.scale = None                  # panel 6's accuracy scale, on its left, made with its first image
        self.lines = {}
        for n in (1, 2):
            ax = self.ax[n]
            self.lines[n] = (ax.plot([], [], color=TRAIN_COLOR, lw=0.8, alpha=0.8, label="training (batch)")[0],
                             ax.plot([], [], color=TEST_COLOR, lw=1.6, marker="o", ms=3, label="test (all)")[0])
            ax.legend(loc="lower right" if n == 1 else "upper right", fontsize=8, frameon=False)
            ax.grid(alpha=0.3)
        # bottom left: the corner a falling loss curve leaves empty
        self.off_scale = self.ax[2].text(0.02, 0.03, "", transform=self.ax[2].transAxes, va="bottom", fontsize=8,
                                         color=TEST_COLOR)
        self.bands = {}
        for n, cmap in ((4, "Blues"), (5, "Oranges")):
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
            self.scale.set_visible(6 in shown)
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
        """Update every artist from the data (cheap: set_data only); the caller renders the figure. Any value
        may be NaN or infinite (a diverging run, the NaN lesson of step 2.0): it is drawn as a gap."""
        v = self.vis
        self.status.set_text(f"{v.title}   iteration {v.iteration:,}" + (f"   {status}" if status else ""))
        self._digits(3, "training")
        self._digits(6, "test")
        last = max(v.iteration, 10) * 1.03
        train, t, bands = snapshot(v.train), snapshot(v.test), snapshot(v.bands)
        for n, col in ((1, 1), (2, 2)):
            train_line, test_line = self.lines[n]
            train_line.set_data(train[0], train[col])
            test_line.set_data(t[0], t[col])
        top, outlier = loss_limits(train, t, v.iteration)
        self._limits(2, (0, last), (0, top))
        self.off_scale.set_text("" if outlier is None else
                                f"above the scale: test loss {outlier[1]:.3g} at iteration {outlier[0]:,}")
        acc = finite([a for i, a in zip(train[0], train[1]) if i >= v.iteration * 0.1] + t[1])
        low = min(0.9, np.floor(np.percentile(acc, 3) * 50) / 50) if len(acc) else 0.9
        self._limits(1, (0, last), (low, 1.0 + (1 - low) * 0.02))
        self.ax[2].set_title("cross-entropy loss" + (f": test {t[2][-1]:.2f}" if t[2] else ""), fontsize=10)
        best = finite(t[1])
        self.ax[1].set_title("accuracy" + (f": test {t[1][-1]:.2%} (max {best.max():.2%})" if len(best) else ""),
                             fontsize=10)
        steps = np.asarray(bands[0], float)
        for n, col, title in ((4, 1, v.weights_title), (5, 2, v.biases_title)):
            b = np.asarray(bands[col], float).reshape(len(steps), 8)
            for k, band in enumerate(self.bands[n]):
                band.set_data(steps, b[:, k], b[:, k + 1])
            seen = finite(b)
            if len(seen):
                lo, hi = seen.min(), seen.max()
                margin = (hi - lo) * 0.05 or 0.1
                self._limits(n, (0, last), (lo - margin, hi + margin))
            full = f"{title}: 7 percentile bands" + (f", {b[-1, 0]:.2g} .. {b[-1, -1]:.2g}" if len(steps) else "")
            # a panel's width holds about 55 characters at this size: the batch-norm steps' longer title wraps
            self.ax[n].set_title(full.replace(": ", ":\n", 1) if len(full) > 55 else full, fontsize=10)

    def _digits(self, n, which):
        im = self.vis.picture(which)
        if im is None or self.images[n].get_array() is im:
            return
        self.images[n].set_data(im)
        h, w = im.shape[:2]
        self.images[n].set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        self._limits(n, (-0.5, w - 0.5), (h - 0.5, -0.5))
        if n == 6:
            raw = self.vis.digits_fetched(which) or {}
            self.scale_of = {"cols": w // 28, "per_cell": int(raw.get("per_cell", 1)),
                             "tested": int(raw.get("tested", 10000))}
            if self.scale is None:
                self._make_scale()
            shown = f"{w // 28 * (h // 28):,} of {self.scale_of['tested']:,}"
            if self.scale_of["per_cell"] > 1:
                k = self.scale_of["per_cell"]
                shown = f"every {k}{'nd' if k == 2 else 'th'} of {self.scale_of['tested']:,}"
            self.ax[6].set_title(f"test digits: {shown}, mistakes first", fontsize=10)

    def _make_scale(self):
        """Panel 6's scale, on its left as in the course: the row where the red (mistakes come first) stops,
        read as the test accuracy. Each cell holds per_cell tested digits, so the scale spans 100% down to
        90% (every mistake shown), 80%, 50% or 0% (every 2nd, 5th or 10th digit shown)."""
        from matplotlib.ticker import PercentFormatter
        def per_row():                     # the accuracy one row of digits stands for, as last drawn
            s = self.scale_of
            return s["cols"] * s["per_cell"] / s["tested"]
        self.scale = self.ax[6].secondary_yaxis(
            "left", functions=(lambda y: 1 - (np.asarray(y) + 0.5) / 28 * per_row(),
                               lambda a: (1 - np.asarray(a)) / per_row() * 28 - 0.5))
        self.scale.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        self.scale.tick_params(labelsize=8)
        self.scale.set_visible(self.ax[6].get_visible())


def snapshot(columns):
    """The columns of a series cut to a common length: in a window the training thread appends to them
    (one column after the other) while the GUI thread draws."""
    n = min(len(c) for c in columns)
    return [c[:n] for c in columns]


def agg_figure(vis):
    """Panels in an off-screen figure (PNG, movie, the browser page, the notebook)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return Panels(fig, vis)
