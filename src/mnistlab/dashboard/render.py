"""The dashboard figure: the six panels placed by layout, a title line, the help overlay; and render_png.

One `Dashboard` serves every renderer: the live window (a pyplot figure on TkAgg), PNG and video export
and the notebook (a plain Agg Figure, no pyplot, safe on any thread), and the web page through render_png.

Layouts follow the course's keys: "all" (0 or ESC) shows the six panels in three columns (digits, curves,
distributions); 1..6 one panel alone; 7 the two digit panels, 8 the two curve panels, 9 the two
distribution panels.
"""
from __future__ import annotations

import io

import numpy as np

from .panels import BandsPanel, CurvePanel, TestDigitsPanel, TrainDigitsPanel

# panel number -> (row, column) in the "all" layout: columns are the pairs of keys 7, 8 and 9.
ALL_POSITIONS = {1: (0, 0), 2: (1, 0), 4: (0, 1), 3: (1, 1), 5: (0, 2), 6: (1, 2)}
LAYOUTS: dict[str, list[int]] = {"all": [1, 2, 3, 4, 5, 6], **{str(i): [i] for i in range(1, 7)},
                                 "7": [1, 2], "8": [3, 4], "9": [5, 6]}
SIZE = (1280, 720)  # pixels of exported frames: 16:9, both divisible by 16 (video codecs' macro blocks)
DPI = 100

HELP = """\
WHAT EACH PANEL SHOWS
1  training digits: the current batch of 100. On red: a mistake, with the correct label small
   on the left and the network's answer on the right.
2  test digits: 1,000 of the test set, every mistake first on red. The scale on the right reads
   as test accuracy: where the red stops.
3  cross-entropy loss and 4 accuracy against the step: training (one batch: noisy) in blue,
   test (the whole test set) in red; the dotted line is the best test value so far.
5  weights and 6 biases (activations for batch-norm nets): 7 bands, each holding 1/7 of the
   values (min, 1/7 ... 6/7 quantiles, max), darkest around the median.

WHAT THE CURVE SHAPES MEAN
- Over-fitting: the test loss turns up while the training loss keeps falling: the network
  learns the training digits by heart. Dropout, more data or fewer steps help.
- Learning rate too high: noisy, jumpy curves, a wobbling test accuracy, or a loss that
  explodes to NaN. Lower --lr-max, or let it decay (--lr-decay-steps).
- Saturating sigmoids: weight bands spreading wide while learning stalls on a plateau,
  activations stuck near 0 or 1. ReLU, batch norm or a smaller initialisation help.
- Dead ReLUs: activations stuck at 0; start the biases slightly positive (the course's 0.1).

KEYS   1..6 one panel   7 digits   8 curves   9 distributions   0 or ESC all six
       SPACE pause/resume training   O box zoom   H reset zoom   Ctrl-S save PNG   ? or F1 help
"""


class Dashboard:
    """The six panels on `fig`. `draw(state)` updates only the visible panels; nothing here starts a GUI."""

    def __init__(self, fig):
        self.fig = fig
        self.panels = {
            1: TrainDigitsPanel(fig.add_axes((0, 0, 1, 1))),
            2: TestDigitsPanel(fig.add_axes((0, 0, 1, 1))),
            3: CurvePanel(fig.add_axes((0, 0, 1, 1)), "loss"),
            4: CurvePanel(fig.add_axes((0, 0, 1, 1)), "accuracy"),
            5: BandsPanel(fig.add_axes((0, 0, 1, 1)), "weights"),
            6: BandsPanel(fig.add_axes((0, 0, 1, 1)), "biases"),
        }
        self.title = fig.text(0.01, 0.985, "mnistlab", ha="left", va="top", fontsize=12, weight="bold")
        self.status = fig.text(0.99, 0.985, "", ha="right", va="top", fontsize=10, color="#444444")
        self.help = fig.text(0.5, 0.5, HELP, ha="center", va="center", fontsize=9.5, family="monospace",
                             multialignment="left",
                             visible=False, zorder=10,
                             bbox=dict(boxstyle="round,pad=1", fc="#fffff0", ec="#888888", alpha=0.96))
        self.layout = "all"
        self.set_layout("all")

    # -- layout -------------------------------------------------------------------------------------------
    @staticmethod
    def layout_key(layout) -> str:
        key = str(layout)
        if key == "0":
            key = "all"
        if key not in LAYOUTS:
            raise ValueError(f"layout must be 'all' or 0..9, got {layout!r}")
        return key

    def set_layout(self, layout) -> None:
        self.layout = self.layout_key(layout)
        shown = LAYOUTS[self.layout]
        left, right, bottom, top, wgap, hgap = 0.045, 0.955, 0.06, 0.91, 0.075, 0.12
        if self.layout == "all":
            cols, rows = 3, 2
            cell = lambda n: ALL_POSITIONS[n]  # noqa: E731
        else:
            cols, rows = len(shown), 1
            cell = lambda n: (0, shown.index(n))  # noqa: E731
        w = (right - left - wgap * (cols - 1)) / cols
        h = (top - bottom - hgap * (rows - 1)) / rows
        for n, panel in self.panels.items():
            visible = n in shown
            panel.ax.set_visible(visible)
            if visible:
                r, c = cell(n)
                panel.ax.set_position((left + c * (w + wgap), top - (r + 1) * h - r * hgap, w, h))

    @property
    def visible(self) -> list[int]:
        return LAYOUTS[self.layout]

    def toggle_help(self) -> None:
        self.help.set_visible(not self.help.get_visible())

    def reset_zoom(self) -> None:
        for p in self.panels.values():
            p.reset_zoom()

    # -- drawing ------------------------------------------------------------------------------------------
    def draw(self, s) -> None:
        """Update the visible panels' artists from a state snapshot (the canvas draws later)."""
        for n in self.visible:
            self.panels[n].draw(s)
        self.title.set_text(s.title)
        best = s.max_test_accuracy
        total = f" / {s.iterations:,}" if s.iterations else ""
        self.status.set_text(f"step {s.step:,}{total}"
                             + (f"   max test accuracy {best:.2%}" if best is not None else "")
                             + f"   {s.status}")

    def rgb(self) -> np.ndarray:
        """The figure as an (H, W, 3) uint8 array (Agg canvas)."""
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.fig.dpi)
        return buf.getvalue()


def new_figure(size=SIZE, dpi=DPI):
    """A pyplot-free Agg Figure of `size` pixels: safe to draw on any thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def render_png(state, layout="all", size=SIZE, help: bool = False) -> bytes:
    """The dashboard of `state` as PNG bytes. layout: "all" or 0..9 with the course's key meanings."""
    dash = Dashboard(new_figure(size))
    dash.set_layout(layout)
    dash.draw(state.snapshot())
    if help:
        dash.toggle_help()
    return dash.png()
