"""The six panels of the course's window, each drawn from a DashboardState snapshot on a matplotlib Axes.

A panel creates its artists once and `draw(state)` only changes their data, so a redraw is cheap: the
digit panels are ONE RGB image each (a numpy array built with vectorised ops, labels stamped in from a
cached glyph atlas; never 1,000 artists), rebuilt only when a new batch or test evaluation arrived.
"""
from __future__ import annotations

import functools
import math

import numpy as np

WHITE = np.array([1.0, 1.0, 1.0])
RED = np.array([0.95, 0.38, 0.36])        # a mistake's background
INK = np.array([0.08, 0.08, 0.12])        # the digit's strokes
LABEL = np.array([1.0, 1.0, 1.0])         # the small labels on a mistake
GRID = np.array([0.82, 0.82, 0.85])       # lines between cells
EMPTY = np.array([0.94, 0.94, 0.95])      # cells with no digit yet
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"
TEST_SHOWN, TEST_COLS = 1000, 40           # the course's ~1,000 test digits, 25 rows of 40
BAND_CMAPS = {"weights": "Blues", "biases": "Oranges", "activations": "Greens"}


# -- digit grids: pure numpy, tested without matplotlib -----------------------------------------------------
@functools.lru_cache(maxsize=8)
def glyphs(height: int) -> np.ndarray:
    """(10, h, w) coverage masks in [0, 1] of the digits 0..9 in a bold sans font, `height` pixels tall."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight="bold")),
                              size=max(int(height * 1.3), 6))
    boxes = [font.getbbox(str(d)) for d in range(10)]
    w = max(b[2] - b[0] for b in boxes)
    top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
    out = np.zeros((10, bottom - top, w), np.float32)
    for d, b in enumerate(boxes):
        img = Image.new("L", (w, bottom - top))
        ImageDraw.Draw(img).text(((w - (b[2] - b[0])) // 2 - b[0], -top), str(d), fill=255, font=font)
        out[d] = np.asarray(img, np.float32) / 255.0
    return out


def digit_grid(images: np.ndarray | None, wrong: np.ndarray, labels: np.ndarray | None, predicted: np.ndarray,
               cols: int, rows: int, scale: int = 1, pad: int = 1) -> np.ndarray:
    """One (H, W, 3) uint8 picture of a rows x cols grid of 28x28 digits (scaled by `scale`): ink on white,
    mistakes (`wrong`) on red with the correct label small on the left and the computed one on the right.
    images: (n, 28, 28) in [0, 1] or None (labels only); n <= rows * cols. Cost: O(pixels), ~10 ms for 1,000."""
    n, cell = len(wrong), 28 * scale
    v = np.zeros((n, cell, cell), np.float32) if images is None else images.astype(np.float32, copy=False)
    if scale > 1 and images is not None:
        v = v.repeat(scale, 1).repeat(scale, 2)
    bg = np.where(wrong[:, None], RED, WHITE).astype(np.float32)                # (n, 3)
    rgb = bg[:, None, None, :] * (1 - v[..., None]) + INK.astype(np.float32) * v[..., None]  # (n, cell, cell, 3)
    bad = np.flatnonzero(wrong)
    if len(bad):
        g = glyphs(max(6, round(8.5 * scale)))                                    # (10, gh, gw)
        gh, gw = g.shape[1:]
        m = max(1, scale)
        for mask, x0 in ((None if labels is None else g[labels[bad]], m), (g[predicted[bad]], cell - gw - m)):
            if mask is None:
                continue
            region = rgb[bad, m:m + gh, x0:x0 + gw]                               # (k, gh, gw, 3)
            rgb[bad, m:m + gh, x0:x0 + gw] = region * (1 - mask[..., None]) + LABEL * mask[..., None]
    out = np.empty((rows * cols, cell + pad, cell + pad, 3), np.float32)
    out[:] = GRID
    out[n:, pad:, pad:] = EMPTY
    out[:n, pad:, pad:] = rgb
    out = out.reshape(rows, cols, cell + pad, cell + pad, 3).transpose(0, 2, 1, 3, 4)
    out = out.reshape(rows * (cell + pad), cols * (cell + pad), 3)
    out = np.pad(out, ((0, pad), (0, pad), (0, 0)), constant_values=GRID[0]) if pad else out
    return (out * 255 + 0.5).astype(np.uint8)


def test_selection(mistakes: list, n_test: int, shown: int = TEST_SHOWN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which test digits the test panel shows: every mistake first (up to `shown`), then correctly
    recognised digits in test-set order. Returns (indices, predicted, wrong) of length min(shown, n_test);
    `predicted` is -1 where the digit was right (its label is the prediction)."""
    shown = min(shown, n_test)
    m = np.asarray(mistakes, dtype=np.int64).reshape(-1, 2)[:shown]
    right = np.ones(n_test, bool)
    right[np.asarray(mistakes, dtype=np.int64).reshape(-1, 2)[:, 0]] = False
    fill = np.flatnonzero(right)[: shown - len(m)]
    indices = np.concatenate([m[:, 0], fill])
    predicted = np.concatenate([m[:, 1], np.full(len(fill), -1)])
    wrong = np.concatenate([np.ones(len(m), bool), np.zeros(len(fill), bool)])
    return indices, predicted, wrong


# -- the panels ---------------------------------------------------------------------------------------------
class Panel:
    title = ""

    def __init__(self, ax):
        self.ax = ax
        self._auto_limits = None  # the limits this panel set last: anything else is the user's zoom

    def user_zoomed(self) -> bool:
        return self._auto_limits is not None and (self.ax.get_xlim(), self.ax.get_ylim()) != self._auto_limits

    def set_limits(self, xlim, ylim):
        if not self.user_zoomed():
            self.ax.set_xlim(*xlim)
            self.ax.set_ylim(*ylim)
            self._auto_limits = (self.ax.get_xlim(), self.ax.get_ylim())

    def reset_zoom(self):
        self._auto_limits = None

    def draw(self, s) -> None:
        raise NotImplementedError


class TrainDigitsPanel(Panel):
    """1: the latest batch of 100 training digits, 10 x 10."""

    def __init__(self, ax):
        super().__init__(ax)
        self.key = None
        self.cols = 10
        self.image = ax.imshow(np.full((10, 10, 3), 255, np.uint8), interpolation="antialiased")
        ax.set_xticks([])
        ax.set_yticks([])

    def grid(self, s) -> np.ndarray | None:
        d = s.digits
        if d is None:
            return None
        predicted = np.asarray(d.predictions, dtype=np.int64)
        labels = s.train_labels(d.indices)
        wrong = predicted != labels if labels is not None else np.zeros(len(predicted), bool)
        rows = math.ceil(len(predicted) / self.cols)
        return digit_grid(s.train_images(d.indices), wrong, labels, predicted, self.cols, rows, scale=2, pad=2)

    def draw(self, s):
        d = s.digits
        if d is None or self.key == d.step:
            return
        self.key = d.step
        rgb = self.grid(s)
        h, w = rgb.shape[:2]
        self.image.set_data(rgb)
        self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        self.set_limits((-0.5, w - 0.5), (h - 0.5, -0.5))
        self.ax.set_title(f"training digits (batch at step {d.step:,})", fontsize=10)


class TestDigitsPanel(Panel):
    """2: ~1,000 test digits, every mistake first on red; the side scale reads as test accuracy (each cell
    is one of the n_test digits, so where the red stops is the accuracy)."""

    def __init__(self, ax):
        super().__init__(ax)
        self.key = None
        self.image = ax.imshow(np.full((25, 40, 3), 255, np.uint8), interpolation="antialiased")
        ax.set_xticks([])
        ax.set_yticks([])
        self.cell = 28
        self.n_test = 10000
        self.scale = ax.secondary_yaxis("right", functions=(self.accuracy_at, self.row_at))
        from matplotlib.ticker import PercentFormatter
        self.scale.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        self.scale.tick_params(labelsize=8)

    def accuracy_at(self, y):
        """Pixel row y -> the test accuracy at which the red would stop there (cells before y / n_test)."""
        return 1 - np.asarray(y) / self.cell * TEST_COLS / self.n_test

    def row_at(self, accuracy):
        return (1 - np.asarray(accuracy)) * self.n_test / TEST_COLS * self.cell

    def grid(self, s):
        t = s.mistakes
        n_test = s.n_test or (len(s.data.test_y) if s.data is not None else 0)
        indices, predicted, wrong = test_selection(t.mistakes, n_test)
        labels_all = s.test_labels()
        labels = labels_all[indices] if labels_all is not None else None
        predicted = np.where(predicted < 0, labels if labels is not None else 0, predicted)
        rows = math.ceil(len(indices) / TEST_COLS)
        return digit_grid(s.test_images(indices), wrong, labels, predicted, TEST_COLS, rows, scale=1, pad=0), wrong

    def draw(self, s):
        t = s.mistakes
        if t is None or self.key == t.step:
            return
        self.key = t.step
        self.n_test = s.n_test or 10000
        rgb, wrong = self.grid(s)
        h, w = rgb.shape[:2]
        self.image.set_data(rgb)
        self.image.set_extent((0, w, h, 0))
        self.set_limits((0, w), (h, 0))
        self.ax.set_title(f"test digits: {len(t.mistakes):,} mistakes of {self.n_test:,} (scale: accuracy)",
                          fontsize=10)


class CurvePanel(Panel):
    """3 and 4: training (every few steps, noisy: one batch) and test (whole test set) against the step."""

    def __init__(self, ax, what: str):
        super().__init__(ax)
        self.what = what  # loss | accuracy
        (self.train_line,) = ax.plot([], [], color=TRAIN_COLOR, lw=0.8, alpha=0.75, label="training (batch)")
        (self.test_line,) = ax.plot([], [], color=TEST_COLOR, lw=1.8, marker="o", ms=2.5, label="test (all)")
        self.best = ax.axhline(np.nan, color=TEST_COLOR, lw=0.6, ls=":")
        ax.legend(loc="upper right" if what == "loss" else "lower right", fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("step", fontsize=8)
        if what == "accuracy":
            from matplotlib.ticker import PercentFormatter
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))

    def draw(self, s):
        tr, te = s.train, s.test
        self.train_line.set_data(tr["step"], tr[self.what])
        self.test_line.set_data(te["step"], te[self.what])
        last = max(tr["step"][-1:] + te["step"][-1:] + [s.step, 1])
        xlim = (0, max(last * 1.04, 10))
        values = np.asarray(tr[self.what] + te[self.what], float)
        values = values[np.isfinite(values)]
        if self.what == "loss":
            # The first batches' loss (2.3) would flatten everything after them: the top follows most values.
            top = max(np.percentile(values, 97) if len(values) else 1.0, max(te["loss"][1:], default=0)) * 1.1
            ylim = (0, top or 1.0)
            best = min(te["loss"], default=np.nan)
            title = f"cross-entropy loss: test {te['loss'][-1]:.4f}" if te["loss"] else "cross-entropy loss"
        else:
            low = np.percentile(values, 8) if len(values) else 0.9
            low = max(0.0, min(0.9, math.floor(low * 50) / 50))
            ylim = (low, 1.0 + (1 - low) * 0.02)
            best = max(te["accuracy"], default=np.nan)
            title = (f"accuracy: test {te['accuracy'][-1]:.2%} (max {best:.2%})" if te["accuracy"] else "accuracy")
        self.best.set_ydata([best, best])
        self.set_limits(xlim, ylim)
        self.ax.set_title(title, fontsize=10)


class BandsPanel(Panel):
    """5 and 6: the spread of all weights (or biases / batch-norm activations) over time as 7 bands, each
    holding 1/7 of the values (between consecutive quantiles min, 1/7, ..., max); darkest at the median."""

    def __init__(self, ax, which: str):
        super().__init__(ax)
        self.which = which  # weights | biases (this key also carries activations for batch-norm nets)
        self.fills = []
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("step", fontsize=8)

    def draw(self, s):
        import matplotlib
        steps = np.asarray(s.bands["step"], float)
        b = np.asarray(s.bands[self.which], float).reshape(len(steps), -1) if len(steps) else np.zeros((0, 8))  # (T, 8)
        label = s.second if self.which == "biases" else "weights"
        for f in self.fills:
            f.remove()
        self.fills = []
        if len(steps):
            cmap = matplotlib.colormaps[BAND_CMAPS[label]]
            n = b.shape[1] - 1
            for i in range(n):  # band i between boundaries i and i + 1; colour by distance from the median
                shade = 0.85 - 0.55 * abs(i - (n - 1) / 2) / ((n - 1) / 2)
                self.fills.append(self.ax.fill_between(steps, b[:, i], b[:, i + 1], color=cmap(shade), lw=0,
                                                       step=None))
        last = max(s.step, int(steps[-1]) if len(steps) else 1)
        finite = b[np.isfinite(b)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
        margin = (hi - lo) * 0.05 or 0.1
        self.set_limits((0, max(last * 1.04, 10)), (lo - margin, hi + margin))
        what = {"weights": "weights", "biases": "biases", "activations": "activations (batch norm)"}[label]
        latest = f": {b[-1, 0]:.2g} .. {b[-1, -1]:.2g}" if len(steps) else ""
        self.ax.set_title(f"{what}, 7 percentile bands{latest}", fontsize=10)
