"""The inside view's drawing: what visualiser/inside.py reads from the network, on a matplotlib figure.

    view = InsideView(fig, rect, network.outline(), iterations)    # every artist made here, once
    changed = view.update(mistakes=m, pictures=p, trace=t)          # set_data/set_text only: the axes it changed

Laid out in `rect` (figure fraction [left, bottom, width, height]):
    mistakes by digit (confusion matrix) | accuracy per digit | most confused pairs over time | first layer
    a test digit -> each layer's activations -> the ten probabilities
Each part is redrawn only when its data is a new object (Mistakes: a new version); the view never changes its
layout after it is made, and changes axis limits only in coarse steps (it sets `limits_changed` then: a display
that caches the background redraws it in full and clears the flag).
"""
import math

import numpy as np

from . import panels

DIAGONAL, OFF, INK = (0.86, 0.93, 0.86), (0.84, 0.15, 0.12), (0.1, 0.1, 0.14)
PAIR_COLORS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
RIGHT, WRONG, PLAIN = "#2ca02c", "#d62728", "#9aa4b1"
FONT = 7


def grid(n, tile, box):
    """(rows, cols) for n tiles of `tile` (h, w) pixels (1-pixel gaps) that makes them largest in an area of
    `box` (h, w) in any unit."""
    best = (0.0, 1, n)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        scale = min(box[1] / (cols * (tile[1] + 1)), box[0] / (rows * (tile[0] + 1)))
        if scale > best[0] + 1e-9:
            best = (scale, rows, cols)
    return best[1], best[2]


def mosaic(tiles, rows, cols):
    """tiles [n, h, w] -> one image [rows*(h+1)-1, cols*(w+1)-1], NaN between the tiles and in empty cells."""
    n, h, w = tiles.shape
    out = np.full((rows * (h + 1), cols * (w + 1)), np.nan, np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[k]
    return out[:-1, :-1]


def signed_unit(tiles):
    """Each tile scaled by its own largest magnitude into -1..1: a neuron's pattern, whatever its scale."""
    scale = np.abs(tiles).reshape(len(tiles), -1).max(1)
    return tiles / np.where(scale > 0, scale, 1)[:, None, None]


def cells(values, rows, cols):
    """A dense layer's n values as one image of rows x cols cells, row by row, NaN after the last."""
    out = np.full(rows * cols, np.nan, np.float32)
    out[:len(values)] = values
    return out.reshape(rows, cols)


def layer_image(activations, rows, cols):
    """One digit's activations of a layer as an image, scaled to 0..1 by their largest value: the maps of a
    convolutional layer (h, w, maps) side by side, a dense layer's (n,) neurons as cells."""
    a = np.asarray(activations, np.float32)
    top = float(a.max()) if a.size else 0.0
    a = a / top if top > 0 else a
    return mosaic(a.transpose(2, 0, 1), rows, cols) if a.ndim == 3 else cells(a, rows, cols)


def coarse_top(current, values, floor=5):
    """An upper limit that moves rarely: kept while the values fit under it and fill more than a third of it,
    else the next of 5, 10, 20, 50, 100 ... above their maximum."""
    high = max(float(np.max(values)) if len(values) else 0.0, 1.0)
    if current and high <= current and high > current / 3:
        return current
    top = floor
    while top < high:
        top = top * 2 if str(top)[0] in "15" else top * 5 // 2
    return top


class InsideView:
    """The inside view's axes and artists, made once in `rect` of `fig` for a network's Outline. `iterations`
    (the run's length) fixes the pairs' iteration axis from the start."""

    def __init__(self, fig, rect, outline, iterations=None):
        self.fig, self.outline = fig, outline
        self.iterations = iterations
        self.limits_changed = False
        self._drawn = {"mistakes": None, "pictures": None, "trace": None}
        self._dynamic = {}                        # axes -> the artists update() changes in it
        self.axes = []                            # every axes of the view, in the order made
        x, y, w, h = rect

        def at(left, bottom, width, height):
            self.axes.append(fig.add_axes([x + left * w, y + bottom * h, width * w, height * h]))
            return self.axes[-1]
        self.ax_confusion = at(0.02, 0.53, 0.24, 0.40)
        self.ax_accuracy = at(0.275, 0.53, 0.06, 0.40)
        self.ax_pairs = at(0.39, 0.53, 0.25, 0.40)
        self.ax_pictures = at(0.68, 0.50, 0.32, 0.46)
        self._make_mistakes()
        self._make_pictures()
        self._make_trace(at)
        for ax in self.axes:                       # titles at y=1.0 but the confusion matrix's, over its top ticks
            panels.placed_once(ax)
            panels.quick_ticks(ax)

    # -- made once -----------------------------------------------------------------------------------------
    def _own(self, ax, *artists):
        self._dynamic.setdefault(ax, []).extend(artists)
        return artists[0] if len(artists) == 1 else artists

    def _make_mistakes(self):
        ax = self.ax_confusion
        self.confusion = self._own(ax, panels.pixels(ax.imshow(np.ones((10, 10, 3)), interpolation="nearest")))
        self.counts = self._own(ax, panels.quick_texts(ax, [(c, r) for r in range(10) for c in range(10)], FONT - 1))
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_xlabel("computed", fontsize=FONT + 1, labelpad=1)
        ax.set_ylabel("correct", fontsize=FONT + 1, labelpad=1)
        ax.tick_params(labelsize=FONT, length=0, pad=2)
        ax.xaxis.set_label_position("top")
        ax.xaxis.tick_top()
        # its two title lines as quick texts (they change at every test), over the labels on its top: the second
        # line's baseline 33 points above the axes, where matplotlib's own title stood
        from matplotlib.transforms import ScaledTranslation
        self.confusion_heading, self.confusion_title = (
            self._own(ax, panels.quick_text(ax, 0.5, 1.0, text, ha="center", va="baseline", fontsize=9,
                                            transform=ax.transAxes + ScaledTranslation(0, points / 72,
                                                                                       ax.figure.dpi_scale_trans)))
            for text, points in (("mistakes by digit: no test yet", 33 + 1.2 * 9), ("", 33)))
        ax = self.ax_accuracy
        self.accuracy_bars = self._own(ax, bars(ax, 0.8, DIAGONAL, across=True))
        self.accuracy_texts = self._own(ax, panels.quick_texts(ax, [(0.98, d) for d in range(10)], FONT - 1, "right",
                                                               transform=ax.get_yaxis_transform()))
        self.accuracy_low = 0.0
        self.held = False                          # a zoom in waiting for update(tighten=True)
        ax.set_xlim(0, 1)
        ax.set_ylim(9.5, -0.5)
        ax.set_yticks([])
        ax.tick_params(labelsize=FONT - 1, pad=1)
        ax.xaxis.set_major_formatter(_percent())
        ax.set_title("right, per digit", y=1.0, fontsize=FONT + 1, pad=16)
        ax = self.ax_pairs
        self.pair_lines = [self._own(ax, ax.plot([], [], color=c, lw=1.4, marker="o", ms=2)[0]) for c in PAIR_COLORS]
        self.pair_texts = [self._own(ax, panels.quick_text(ax, 0.98, 0.95 - 0.09 * k, transform=ax.transAxes,
                                                           ha="right", va="top", fontsize=FONT, color=c,
                                                           bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1)))
                           for k, c in enumerate(PAIR_COLORS)]
        self.pairs_top = None
        ax.set_xlim(0, self.iterations or 100)
        ax.set_ylim(0, 5)
        ax.yaxis.get_major_locator().set_params(integer=True)      # counts of digits
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT)
        ax.set_xlabel("iteration", fontsize=FONT, labelpad=1)
        panels.label_under(ax)
        ax.set_title("most confused pairs: mistakes at each test", y=1.0, fontsize=9)

    def _make_pictures(self):
        ax, o = self.ax_pictures, self.outline
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        if o.pictures is None:
            ax.set_title("first layer", y=1.0, fontsize=9)
            ax.text(0.5, 0.5, o.notes.get("pictures") or "", ha="center", va="center", wrap=True, fontsize=8,
                    transform=ax.transAxes)
            self.weights = None
            return
        n, h, w = o.pictures
        self.picture_grid = grid(n, (h, w), self._inches(ax))
        if o.pictures_are_classes:
            self.picture_grid = (2, 5)             # one per digit: 0-4 above 5-9
        cmap = _cmap("RdBu_r")
        self.weights = self._own(ax, panels.pixels(ax.imshow(mosaic(np.zeros((n, h, w), np.float32),
                                                                    *self.picture_grid),
                                                             cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")))
        if o.pictures_are_classes:                 # one picture per digit (step 1.0): say which, over the pictures
            cols = self.picture_grid[1]
            corners = [(d % cols * (w + 1) + 0.5, d // cols * (h + 1) + 0.5) for d in range(n)]
            self._own(ax, panels.quick_texts(ax, corners, FONT + 1, "left", "top")).set_texts(
                [str(d) for d in range(n)], [INK] * n)
        ax.set_title(f"first layer: {o.pictures_label}\nweights > 0 red, < 0 blue, each picture on its own scale",
                     y=1.0, fontsize=8)

    def _make_trace(self, at):
        o = self.outline
        layers = o.layers
        ax = self.ax_digit = at(0.0, 0.03, 0.085, 0.34)
        ax.set_anchor("N")
        self.digit = self._own(ax, panels.pixels(ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1,
                                                          interpolation="nearest")))
        ax.set_xticks([])
        ax.set_yticks([])
        self.digit_title = self._own(ax, panels.quick_title(ax, FONT + 1))
        self.trace_title = self._own(ax, panels.quick_text(ax, 0.0, 1.4, transform=ax.transAxes, fontsize=9,
                                                           ha="left"))
        self.layer_axes, self.layer_images, self.layer_grids = [], [], []
        span, gap = 0.76, 0.012
        width = (span - gap * max(len(layers) - 1, 0)) / max(len(layers), 1)
        for k, layer in enumerate(layers):
            ax = at(0.105 + k * (width + gap), 0.03, width, 0.34)
            ax.set_anchor("N")                     # every layer's title on one line, whatever its shape
            box = self._inches(ax)
            if layer.kind == "conv":
                rows_cols = grid(layer.shape[2], layer.shape[:2], box)
            else:                                  # cells without gaps, in the axes' proportions
                cols = max(1, round((layer.shape[0] * box[1] / box[0]) ** 0.5))
                rows_cols = (math.ceil(layer.shape[0] / cols), cols)
            image = self._own(ax, panels.pixels(ax.imshow(layer_image(np.zeros(layer.shape), *rows_cols),
                                                          cmap=_cmap("magma"), vmin=0, vmax=1,
                                                          interpolation="nearest")))
            ax.set_xticks([])
            ax.set_yticks([])
            size = f"{layer.shape[0]}x{layer.shape[1]} x {layer.shape[2]}" if layer.kind == "conv" else \
                f"{layer.shape[0]} neurons"
            ax.set_title(f"{layer.label}\n{size}", y=1.0, fontsize=FONT - (len(layers) > 5))
            self.layer_axes.append(ax)
            self.layer_images.append(image)
            self.layer_grids.append(rows_cols)
        self.evidence = None
        if not layers and o.pictures_are_classes:
            self._make_evidence(at(0.105, 0.03, 0.76, 0.34))
        elif not layers:
            ax = at(0.105, 0.03, 0.76, 0.34)
            ax.set_axis_off()
            ax.text(0.5, 0.5, o.notes.get("trace") or "", ha="center", va="center", wrap=True, fontsize=9,
                    transform=ax.transAxes)
        ax = self.ax_probabilities = at(0.895, 0.06, 0.105, 0.31)
        self.bars = self._own(ax, bars(ax, 0.75, PLAIN))
        ax.set_ylim(0, 1)
        ax.set_xlim(-0.6, 9.6)
        ax.set_xticks(range(10))
        ax.tick_params(labelsize=FONT, pad=1)
        ax.yaxis.set_major_formatter(_percent())
        self.probability_title = self._own(ax, panels.quick_title(ax, FONT + 1, "probabilities"))

    # -- each update ---------------------------------------------------------------------------------------
    def _inches(self, ax):
        box = ax.get_position()
        return box.height * self.fig.get_figheight(), box.width * self.fig.get_figwidth()

    def _make_evidence(self, ax):
        """Step 1.0's one layer, for the digit traced: its pixels times each digit's weights, ten maps whose sums
        (plus a bias each) the softmax turns into the probabilities."""
        ax.set_anchor("N")
        ax.set_xticks([])
        ax.set_yticks([])
        self.evidence_grid = grid(10, (28, 28), self._inches(ax))
        self.evidence = self._own(ax, panels.pixels(ax.imshow(mosaic(np.zeros((10, 28, 28), np.float32),
                                                                     *self.evidence_grid),
                                                              cmap=_cmap("RdBu_r"), vmin=-1, vmax=1,
                                                              interpolation="nearest")))
        cols = self.evidence_grid[1]
        self.evidence_sums = self._own(ax, panels.quick_texts(ax, [(d % cols * 29 + 0.5, d // cols * 29 + 0.5)
                                                                   for d in range(10)], FONT + 1, "left", "top"))
        ax.set_title("one layer: each digit's neuron adds up the pixels times its weights (red: for, blue: against, "
                     "on one scale);\nthe ten sums, plus a bias each, through softmax, are the probabilities",
                     y=1.0, fontsize=FONT + 1)
        self.ax_evidence = ax

    def _draw_evidence(self):
        pictures, trace = self._drawn["pictures"], self._drawn["trace"]
        if self.evidence is None or pictures is None or trace is None:
            return []
        maps = trace.digit.pixels[None] * pictures                      # [10, 28, 28]: pixel x weight
        scale = float(np.abs(maps).max()) or 1.0
        self.evidence.set_data(mosaic(maps / scale, *self.evidence_grid))
        self.evidence_sums.set_texts([f"{d}: {maps[d].sum():+.1f}" for d in range(10)], [INK] * 10)
        return [self.ax_evidence]

    def set_visible(self, on):
        """Show or hide every axes of the view (a display swaps it with the six panels)."""
        for ax in self.axes:
            ax.set_visible(on)

    def forget(self):
        """The next update() draws every part anew (a display's new size or layout)."""
        self._drawn = dict.fromkeys(self._drawn)

    def artists(self, ax):
        """The artists update() changes in `ax` (a display draws them over its cached background)."""
        return list(self._dynamic.get(ax, []))

    def update(self, mistakes=None, pictures=None, trace=None, tighten=True):
        """Draw what is new among the three parts (None: leave that part as it is); return the axes whose
        artists changed (empty: nothing to redraw). Unless `tighten`, a scale that would zoom in (the accuracy
        per digit's, the pairs') waits, as the panels' do (visualiser.display.Snapshot)."""
        changed = []
        if mistakes is not None and mistakes.latest is not None and (
                mistakes.version != self._drawn["mistakes"] or (tighten and self.held)):
            self._drawn["mistakes"] = mistakes.version
            changed += self._draw_mistakes(mistakes, tighten)
        new_pictures = pictures is not None and self.weights is not None and pictures is not self._drawn["pictures"]
        if new_pictures:
            self._drawn["pictures"] = pictures
            self.weights.set_data(mosaic(signed_unit(pictures), *self.picture_grid))
            changed.append(self.ax_pictures)
        new_trace = trace is not None and trace is not self._drawn["trace"]
        if new_trace:
            self._drawn["trace"] = trace
            changed += self._draw_trace(trace)
        if new_pictures or new_trace:
            changed += self._draw_evidence()
        return changed

    def _draw_mistakes(self, mistakes, tighten=True):
        iteration, m = mistakes.latest
        right, tested = mistakes.right()
        off = m.astype(float)
        np.fill_diagonal(off, 0)
        strength = off / max(off.max(), 1)
        rgb = np.ones((10, 10, 3)) - strength[..., None] * (1 - np.array(OFF))
        rgb[np.arange(10), np.arange(10)] = DIAGONAL
        self.confusion.set_data(rgb)
        cells = [(r, c) for r in range(10) for c in range(10)]
        self.counts.set_texts([f"{m[r, c]}" if m[r, c] or r == c else "" for r, c in cells],
                              ["white" if r != c and strength[r, c] > 0.6 else INK for r, c in cells])
        self.confusion_heading.set_text(f"mistakes by digit, test at iteration {iteration:,}")
        self.confusion_title.set_text(f"the diagonal: {right:,} of {tested:,} right = {right / max(tested, 1):.2%}")
        accuracy = mistakes.per_digit()
        seen = accuracy[np.isfinite(accuracy)]
        low = max([0.0] + [b for b in (0.5, 0.8, 0.9, 0.95) if len(seen) and b <= seen.min() - 0.005])
        self.held = (low > self.accuracy_low and not tighten)
        if low < self.accuracy_low or (low > self.accuracy_low and tighten):   # up as it learns: a few times a run
            self.accuracy_low = low
            self.ax_accuracy.set_xlim(low, 1)
            self.limits_changed = True
        set_bars(self.accuracy_bars, np.where(np.isfinite(accuracy), accuracy, 0), across=True)
        self.accuracy_texts.set_texts([f"{a:.1%}" if np.isfinite(a) else "-" for a in accuracy], ["black"] * 10)
        changed = [self.ax_confusion, self.ax_accuracy]
        pairs, iterations, counts = mistakes.pairs(len(PAIR_COLORS))
        top = coarse_top(self.pairs_top, counts[iterations >= iterations[-1] * 0.1] if len(counts) else [])
        if self.pairs_top is not None and top < self.pairs_top and not tighten:
            top, self.held = self.pairs_top, True
        if top != self.pairs_top:
            self.pairs_top = top
            self.ax_pairs.set_ylim(0, top)
            self.limits_changed = True
        if not self.iterations and iterations[-1] > self.ax_pairs.get_xlim()[1]:
            self.ax_pairs.set_xlim(0, coarse_top(None, [iterations[-1]], floor=100))
            self.limits_changed = True
        for k, (line, text) in enumerate(zip(self.pair_lines, self.pair_texts)):
            if k < len(pairs):
                a, b = pairs[k]
                line.set_data(iterations, counts[:, k])
                text.set_text(f"{a} read as {b}: {counts[-1, k]}")
            else:
                line.set_data([], [])
                text.set_text("")
        return changed + [self.ax_pairs]

    def _draw_trace(self, trace):
        d = trace.digit
        self.digit.set_data(d.pixels)
        self.digit_title.set_text(f"correct: {d.label}")
        then = "" if d.computed == trace.computed else f" (at the test: {d.computed})"
        verdict = "right" if trace.computed == d.label else "a mistake"
        self.trace_title.set_text(f"a test digit through the network: computed {trace.computed}{then}, {verdict}")
        for image, rows_cols, activations in zip(self.layer_images, self.layer_grids, trace.activations):
            image.set_data(layer_image(activations, *rows_cols))
        set_bars(self.bars, trace.probabilities,
                 [RIGHT if k == d.label else WRONG if k == trace.computed else PLAIN for k in range(10)])
        self.probability_title.set_text(f"probabilities: {trace.computed} at "
                                        f"{trace.probabilities[trace.computed]:.0%}")
        return [self.ax_digit] + self.layer_axes + [self.ax_probabilities]


def bars(ax, thickness, colour, across=False):
    """Ten bars from 0 (one a digit, up; `across`: one a row, rightwards) as one PolyCollection, set with
    set_bars(): the pixels of ax.bar's ten patches (tested) in one draw call, 0.2 ms instead of 1 ms."""
    from matplotlib.collections import PolyCollection
    collection = PolyCollection([], facecolors=colour, edgecolors="none", joinstyle="miter")
    collection.thickness = thickness
    set_bars(collection, np.zeros(10), across=across)
    ax.add_collection(collection, autolim=False)
    return collection


def set_bars(collection, values, colours=None, across=False):
    """The bars' lengths (and colours): bar k spans k +- thickness / 2 across its length."""
    half = collection.thickness / 2
    boxes = [[(k - half, 0), (k - half, v), (k + half, v), (k + half, 0)] for k, v in enumerate(map(float, values))]
    collection.set_verts([[(y, x) for x, y in box] for box in boxes] if across else boxes)
    if colours is not None:                # as a patch's set_color: its edge too (a bar at 0 shows as a line)
        collection.set_color(colours)


def _cmap(name):
    import matplotlib
    return matplotlib.colormaps[name].with_extremes(bad=(1.0, 1.0, 1.0))     # white gaps between the tiles


def _percent():
    from matplotlib.ticker import PercentFormatter
    return PercentFormatter(1.0, decimals=0)
