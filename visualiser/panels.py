"""The six panels: the display's home view, drawn from a published snapshot of a MnistDataVis's data. A leaf:
it imports nothing of visualiser (and matplotlib only when a figure is made).

Numbered as the course's visualiser numbers them, its 2 x 3 grid read row by row (the keys depend on it):
    1 accuracy        2 cross-entropy loss   3 training digits
    4 weights         5 biases               6 test digits
Keys 1-6 show one panel alone, 7 the two curves (1 + 2), 8 the two band graphs (4 + 5), 9 the two digit
panels (3 + 6), 0 or ESC all six.

A view as the display (visualiser.display) drives it: the artists are made once, the ones that change are
`animated` (left out of the figure's own draw, drawn by the display over a cached background), and update()
only sets their data and says which panels changed. What a full redraw would change (ticks, limits, the
test digits' scale) changes rarely by design: the iteration axis spans the run from the start, the other
limits move in coarse steps with hysteresis (steady()), and the digit mosaics are resampled once per new
image to the size they are shown.
"""
import functools
import math

import numpy as np

TITLES = {1: "accuracy", 2: "cross-entropy loss", 3: "training digits", 4: "weights", 5: "biases",
          6: "test digits"}
SLOTS = {n: divmod(n - 1, 3) for n in TITLES}          # panel -> (row, column) of the 2 x 3 grid
LAYOUTS = {str(n): (n,) for n in TITLES} | {"7": (1, 2), "8": (4, 5), "9": (3, 6), "0": tuple(TITLES)}
LAYOUTS["escape"] = LAYOUTS["0"]
# the keys as the window, the page's buttons and the notebook's buttons offer them: (key, label)
KEYS = [(str(n), f"{n} {TITLES[n]}") for n in TITLES] + [
    ("7", "7 panels 1+2"), ("8", "8 panels 4+5"), ("9", "9 panels 3+6"), ("0", "0 all six"),
    ("i", "I look inside"), ("b", "B previous digit"), ("n", "N next digit"),      # the look-inside view's
    (" ", "SPACE pause / resume"), ("h", "H reset zoom"), ("q", "Q stop the training")]

WHITE, RED, EMPTY = (1.0, 1.0, 1.0), (0.95, 0.42, 0.40), (0.92, 0.92, 0.93)   # cell backgrounds
INK, LABEL = (0.08, 0.08, 0.12), (1.0, 1.0, 1.0)                              # strokes, labels on mistakes
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"
FIGSIZE, DPI = (12.8, 7.2), 100          # 1280 x 720: the movie's frame size too
FONT = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
        "111100111001111", "111100111101111", "111001010010010", "111101111101111", "111101111001111"]
TOP_LINE = 27             # pixels at the figure's top for its own line (the run's name, the iteration): no panel's
OUTLIER = 10              # a test loss over 10x the largest training loss is off the loss panel's scale
FILL = 0.5                # limits are kept while the data fills at least this share of them (hysteresis)


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


def _colour_table():
    """uint32 [769]: the colour (RGBA bytes, opaque) of ink level 0-255 on a white cell (entries 0-255), a red
    one (256-511), an empty one (512-767), and a label's (768). A pixel is one 4-byte entry: one lookup."""
    ink = np.arange(256)[:, None] / 255
    cells = [np.array(bg) * (1 - ink) + np.array(INK) * ink for bg in (WHITE, RED, EMPTY)]
    rgb = (np.concatenate(cells + [np.array([LABEL])]) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.c_[rgb, np.full(len(rgb), 255, np.uint8)]).view(np.uint32).ravel()


_COLOURS, _MARKS = _colour_table(), _GLYPHS > 0


def digit_mosaic(raw):
    """The picture [lines*28, n/lines*28, 4] uint8 (RGBA, opaque: drawn as it is) of what
    tf_format_mnist_images fetched: ink on white, mistakes on red with both labels, empty cells grey. One
    4-byte table lookup per pixel: ~1 ms for 1,000 digits, done only to draw."""
    digits, labels, computed = raw["digits"], np.asarray(raw["labels"]), np.asarray(raw["computed"])
    n, lines = len(digits), int(raw["lines"])
    valid = np.arange(n) < int(raw["shown"])
    wrong = (labels != computed) & valid
    row = np.where(valid, np.where(wrong, 256, 0), 512).astype(np.uint16)          # each cell's table rows
    index = digits * valid[:, None, None].astype(np.uint16) + row[:, None, None]   # [n, 28, 28]
    index[(_MARKS[0][labels] | _MARKS[1][computed]) & wrong[:, None, None]] = 768   # the two labels
    tiles = index.reshape(lines, n // lines, 28, 28).transpose(0, 2, 1, 3).reshape(lines * 28, n // lines * 28)
    return np.take(_COLOURS, tiles).view(np.uint8).reshape(*tiles.shape, 4)


def shrink(picture, height, width):
    """picture [h, w, 4] uint8 (opaque RGBA) resampled to [height, width, 4] (at most its size) with a box filter:
    each pixel the mean of the picture's pixels whose centres fall inside it, as the eye would see 1-pixel
    strokes at a third of their size, without the aliasing of picking every third pixel. Pillow's resampler
    (C), read as RGBX (no alpha to weigh): ~2-5 ms for the 1,120 x 700 test digits, ten times numpy's."""
    from PIL import Image
    h, w = picture.shape[:2]
    if (height, width) == (h, w):
        return picture
    image = Image.frombuffer("RGBX", (w, h), np.ascontiguousarray(picture), "raw", "RGBX", 0, 1)
    return np.asarray(image.resize((min(width, w), min(height, h)), Image.Resampling.BOX))


_FONTS = {}               # (font properties, dpi) -> (Pillow's FreeType font, the ascent of "lp" in pixels)
_INKS = {}                # (text, font, anchor, colour) -> its RGBA picture, rows upwards (up to 4,096 kept)
_LETTERS = {}             # (character, font) -> _letter()
_PLACES = {}              # (text, font properties, dpi, alignments) -> where it stands (QuickText._quick)


def _font(properties, dpi):
    """Pillow's font for matplotlib's font `properties` at `dpi`, and its ascent of "lp", kept (_FONTS): found
    once a font, not once a new text (findfont and the ascent were half the cost of placing one)."""
    key = (properties, dpi)
    if key not in _FONTS:
        from matplotlib.font_manager import findfont
        from PIL import ImageFont
        # the basic layout: whole-pixel advances, so that a line is its letters put together (coverage())
        font = ImageFont.truetype(findfont(properties), properties.get_size_in_points() * dpi / 72,
                                  layout_engine=ImageFont.Layout.BASIC)
        # kept under a copy of the properties: a text may change its own later
        _FONTS[(properties.copy(), dpi)] = (font, -font.getbbox("lp", anchor="ls")[1])
    return _FONTS[key]


def _place(line, properties, dpi, ha, va):
    """Where a quick text's line stands: (Pillow's font, the anchor, the ink's box (left, top, right, bottom) in
    pixels from the anchor, y down, the rise of the anchor above the text's point), kept (_PLACES)."""
    key = (line, properties, dpi, ha, va)
    if key not in _PLACES:
        font, ascent = _font(properties, dpi)
        where = {"left": "l", "center": "m", "right": "r"}[ha] + {"center": "m", "bottom": "d"}.get(va, "s")
        # matplotlib's top is a line's top (the ascent of "lp"), not the font's; its "center_baseline" (the y tick
        # labels') half that ascent: the baseline that far below the point
        rise = {"top": 1, "center_baseline": 0.5}.get(va, 0) * ascent
        if len(_PLACES) >= 4096:
            _PLACES.clear()
        _PLACES[(line, properties.copy(), dpi, ha, va)] = (font, where, font.getbbox(line, anchor=where), rise)
    return _PLACES[key]


def _letter(char, font):
    """One character's ink in `font`: (left, top, coverage 0-255 rows down, advance), both in whole pixels from
    its pen position on the baseline, kept (_LETTERS)."""
    key = (char, font)
    if key not in _LETTERS:
        from PIL import Image, ImageDraw
        left, top, right, bottom = font.getbbox(char, anchor="ls")
        ink = Image.new("L", (max(right - left, 0), max(bottom - top, 0)))
        if ink.width and ink.height:
            ImageDraw.Draw(ink).text((-left, -top), char, font=font, fill=255, anchor="ls")
        _LETTERS[key] = (left, top, np.asarray(ink), round(font.getlength(char)))
    return _LETTERS[key]


def coverage(line, font):
    """The line's coverage (uint8 0-255, rows down) over its box at Pillow's anchor "ls": the pixels Pillow's
    FreeType draws, put together from the letters' (_letter). Pillow's basic layout moves the pen a whole
    pixel advance a letter, and where two letters' pixels meet (the "fi" of "first") screens them, a + b - ab:
    the same here. Why: drawing a line is a FreeType call that holds the interpreter's lock (0.1-0.3 ms, ~30
    new lines a frame of 1.0's view), and the training waits on that lock; copying letters drawn once is cheaper
    (docs/inside.md)."""
    left, top, right, bottom = font.getbbox(line, anchor="ls")
    out = np.zeros((bottom - top, right - left), np.uint8)
    pen, reached = 0, -(1 << 30)                 # reached: the first column no letter has inked yet
    for char in line:
        x, y, ink, advance = _letter(char, font)
        if ink.size:
            x, y = pen + x - left, y - top
            under = out[y:y + ink.shape[0], x:x + ink.shape[1]]
            if x >= reached:
                under[...] = ink
            else:
                both = under * ink.astype(np.uint16) + 128            # ab / 255, rounded as Pillow's
                under += ink - ((both + (both >> 8)) >> 8).astype(np.uint8)
            reached = max(reached, x + ink.shape[1])
        pen += advance
    return out


def _ink(line, placed, colour):
    """The line's ink in `colour` (RGBA, 0-1) as an RGBA picture, rows upwards as Agg draws them, kept (_INKS):
    the inside view's 100 counts repeat."""
    font, where, _, _ = placed
    key = (line, font, where, colour)
    if key not in _INKS:
        ink = coverage(line, font)          # the box at any anchor is the box at "ls", moved
        picture = np.empty(ink.shape + (4,), np.uint8)
        picture[..., :3] = np.round(np.array(colour[:3]) * 255)
        picture[..., 3] = ink * colour[3]
        if len(_INKS) >= 4096:
            _INKS.clear()
        _INKS[key] = picture[::-1]
    return _INKS[key]


@functools.cache
def _quick_text_class():
    """quick_text's class, made once (an Artist subclass costs ~4 ms to make: matplotlib reads its setters)."""
    from matplotlib.colors import to_rgba
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    class QuickText(Text):
        def _quick(self):
            """_place()'s answer for this text, or None for a text that matplotlib draws."""
            line = self.get_text()
            if not line or "\n" in line or self.get_rotation() or self.figure is None:
                return None
            return _place(line, self.get_fontproperties(), self.figure.dpi, self.get_horizontalalignment(),
                          self.get_verticalalignment())

        def get_window_extent(self, renderer=None, dpi=None):
            quick = self._quick() if dpi is None else None
            if quick is None:
                return super().get_window_extent(renderer, dpi)
            (left, top, right, bottom), rise = quick[2:]
            x, y = self.get_transform().transform(self.get_unitless_position())
            return Bbox([[x + left, y - rise - bottom], [x + right, y - rise - top]])

        def draw(self, renderer):
            if not (self.get_visible() and self.get_text()):
                return
            quick = self._quick() if type(renderer).__name__ == "RendererAgg" else None
            if quick is None:
                return super().draw(renderer)
            (left, top, right, bottom), rise = quick[2:]
            rgba = _ink(self.get_text(), quick, to_rgba(self.get_color(), self.get_alpha()))
            x, y = self.get_transform().transform(self.get_unitless_position())
            x, y = round(x + left), round(y - rise - bottom)
            gc = renderer.new_gc()
            self._set_gc_clip(gc)
            patch = self.get_bbox_patch()
            if patch is not None:          # a plain box behind the ink (bbox=dict(pad=points, facecolor, alpha))
                pad = round(patch.get_boxstyle().pad * self.get_fontsize() * self.figure.dpi / 72)
                block = np.empty((rgba.shape[0] + 2 * pad, rgba.shape[1] + 2 * pad, 4), np.uint8)
                block[:] = np.round(np.array(patch.get_facecolor()) * 255)
                renderer.draw_image(gc, x - pad, y - pad, block)
            renderer.draw_image(gc, x, y, rgba)
            gc.restore()
            self.stale = False
    return QuickText


@functools.cache
def _quick_texts_class():
    """quick_texts' class, made once (as quick_text's)."""
    from matplotlib.artist import Artist
    from matplotlib.colors import to_rgba
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import Bbox

    class QuickTexts(Artist):
        """One-line texts at fixed points (one font and alignment, each its own text and colour), drawn as one
        picture: one draw_image for them all instead of one a text (the 100 counts of a confusion matrix)."""

        def __init__(self, points, fontsize, ha, va):
            super().__init__()
            self.points, self.ha, self.va = np.asarray(points, float), ha, va
            self.font = FontProperties(size=fontsize)
            self.texts, self.colours = [""] * len(self.points), [(0.0, 0.0, 0.0, 1.0)] * len(self.points)
            self.set_zorder(3)                                            # a text's: over the spines

        def set_texts(self, texts, colours):
            """Each point's text ("": none there) and colour (any matplotlib colour)."""
            self.texts, self.colours = list(texts), [to_rgba(c) for c in colours]
            self.stale = True

        def _pieces(self):
            """[(x, y, ink)]: each text's ink and its lower left corner in display pixels."""
            xy = self.get_transform().transform(self.points)
            out = []
            for (x, y), line, colour in zip(xy, self.texts, self.colours):
                if line:
                    placed = _place(line, self.font, self.figure.dpi, self.ha, self.va)
                    (left, _, _, bottom), rise = placed[2:]
                    out.append((round(x + left), round(y - rise - bottom), _ink(line, placed, colour)))
            return out

        def draw(self, renderer):
            pieces = self._pieces() if self.get_visible() else []
            if pieces:
                x0, y0 = min(x for x, _, _ in pieces), min(y for _, y, _ in pieces)
                x1 = max(x + ink.shape[1] for x, _, ink in pieces)
                y1 = max(y + ink.shape[0] for _, y, ink in pieces)
                picture = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)       # rows upwards, as the inks
                for x, y, ink in pieces:
                    under = picture[y - y0:y - y0 + ink.shape[0], x - x0:x - x0 + ink.shape[1]]
                    np.copyto(under, ink, where=ink[..., 3:] > under[..., 3:])    # (they do not overlap)
                gc = renderer.new_gc()
                renderer.draw_image(gc, x0, y0, picture)
                gc.restore()
            self.stale = False

        def get_window_extent(self, renderer=None):
            pieces = self._pieces()
            return Bbox.union([Bbox.from_bounds(x, y, ink.shape[1], ink.shape[0]) for x, y, ink in pieces]) \
                if pieces else Bbox.null()
    return QuickTexts


def quick_text(parent, x, y, text="", **kwargs):
    """A text whose content changes at every frame (a panel's figures, the top line's iteration), drawn from
    its letters as Pillow's FreeType draws them (coverage()): ~0.25 ms for a new title of 25 characters (0.55 ms
    as one FreeType call) against ~2.5 ms through matplotlib's layout, which was 40% of a frame. On `parent`, a
    figure (x, y in its fractions) or an axes (in data coordinates unless a transform is given). Only one line
    without rotation on an Agg canvas is drawn this way (the window's, the page's, the movie's; a bbox as a plain
    box around its ink); anything else is drawn as matplotlib draws any text."""
    artist = _quick_text_class()(x, y, text, **{"clip_on": False, **kwargs})    # as ax.text: not clipped to the axes
    parent.add_artist(artist)
    return artist


def quick_texts(ax, points, fontsize, ha="center", va="center", transform=None):
    """Texts at `points` (data coordinates of ax unless a transform is given), set together with
    .set_texts(texts, colours) and drawn as one picture: 100 counts in 1.3 ms of CPU instead of 5 ms as 100
    quick texts (the same pixels: tested)."""
    artist = _quick_texts_class()(points, fontsize, ha, va)
    artist.set(transform=transform or ax.transData, clip_on=False)
    ax.add_artist(artist)
    return artist


@functools.cache
def _tick_labels_class():
    """quick_ticks' artist class, made once (as quick_text's)."""
    from matplotlib.artist import Artist

    class TickLabels(Artist):
        """An axis's major tick labels on one side ("label1": bottom or left, "label2": top or right) drawn by
        one quick text moved from label to label, placed and styled as matplotlib's own label of that side."""

        def __init__(self, axis, side):
            super().__init__()
            self.axis, self.side, self.x = axis, side, axis.axis_name == "x"
            self.label = _quick_text_class()(0, 0, "", clip_on=False)
            self.set(zorder=self.label.get_zorder(), clip_on=False)    # out of the axes, in its tight box

        def _placed(self):
            """The label set at each tick shown in turn (as matplotlib filters them), yielded."""
            axis = self.axis
            if not (self.get_visible() and axis.get_visible()):
                return
            model = getattr(axis.get_major_ticks(1)[0], self.side)     # its place (pad), font and colour
            self.label.set(figure=axis.axes.figure, transform=model.get_transform(), ha=model.get_ha(),
                           va=model.get_va(), fontproperties=model.get_fontproperties(), color=model.get_color())
            edge = 0 if self.side == "label1" else 1          # the axes' side, in its fractions
            locs = axis.get_majorticklocs()
            for loc, shown, text in zip(locs, _in_view(axis, locs), axis.get_major_formatter().format_ticks(locs)):
                if shown:
                    self.label.set_text(text)
                    self.label.set_position((loc, edge) if self.x else (edge, loc))
                    yield self.label

        def draw(self, renderer):
            for label in self._placed():
                label.draw(renderer)
            self.stale = False

        def get_window_extent(self, renderer=None):
            """The labels' extent (an axes' tight box holds them, as it holds matplotlib's)."""
            from matplotlib.transforms import Bbox
            boxes = [label.get_window_extent(renderer) for label in self._placed()]
            return Bbox.union(boxes) if boxes else Bbox.null()
    return TickLabels


@functools.cache
def _tick_marks_class():
    """quick_ticks' artist for the marks and grid lines, made once (as quick_text's)."""
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D

    class TickMarks(Artist):
        """An axis's major tick marks (each side shown) and grid lines, each kind one Line2D through every
        tick (a run of markers, a path broken by NaNs), styled as matplotlib's own of the first tick, which
        matplotlib then no longer draws: one line drawn a kind instead of one a tick."""

        def __init__(self, axis):
            super().__init__()
            self.axis, self.x, model = axis, axis.axis_name == "x", axis.get_major_ticks(1)[0]
            self.lines = [Line2D([], [], marker=line.get_marker(), ms=line.get_markersize(), ls="none",
                                 mew=line.get_markeredgewidth(), color=line.get_color(), transform=line.get_transform())
                          for line in (model.tick1line, model.tick2line) if line.get_visible()]
            grid = model.gridline
            self.grid = Line2D([], [], color=grid.get_color(), lw=grid.get_linewidth(), ls=grid.get_linestyle(),
                               alpha=grid.get_alpha(), transform=grid.get_transform(), zorder=grid.get_zorder()) \
                if grid.get_visible() else None
            self.set(zorder=model.tick1line.get_zorder())

        def draw(self, renderer):
            axis = self.axis
            if self.get_visible() and axis.get_visible():
                locs = axis.get_majorticklocs()
                locs = locs[_in_view(axis, locs)]
                for line, edge in zip(self.lines, (0, 1)):
                    line.set_data(*((locs, [edge] * len(locs)) if self.x else ([edge] * len(locs), locs)))
                if self.grid:
                    across = np.tile([0.0, 1.0, np.nan], len(locs))
                    along = np.repeat(locs, 3)
                    self.grid.set_data(*((along, across) if self.x else (across, along)))
                for line in ([self.grid] if self.grid else []) + self.lines:
                    line.set_figure(self.figure)
                    line.draw(renderer)
            self.stale = False
    return TickMarks


def _in_view(axis, locs):
    """Which of the tick locations `locs` the axis shows (inside its view, as matplotlib filters them, on the
    axis's scale: linear here)."""
    scale = axis.get_transform()
    low, high = sorted(scale.transform(axis.get_view_interval()))
    at, slack = scale.transform(np.asarray(locs, float)), 1e-6 * (high - low)
    return (low - slack <= at) & (at <= high + slack)


def quick_ticks(ax):
    """ax's tick labels (the sides shown, at the size and pad set) drawn as quick texts where matplotlib puts
    them: matplotlib lays out and renders every label at each draw of its axes (~1.5 ms each, some twenty an
    axes: half the cost of drawing an axes whose limits moved); and its tick marks and grid lines drawn as one
    line each (TickMarks: a third of what is left). Call it after tick_params and grid. An axis with a label
    of its own keeps matplotlib's tick labels (it places that label by measuring them) unless label_under()
    fixed the label's place; the offset text (x1e-5) stays matplotlib's."""
    for axis, sides, marks in ((ax.xaxis, ("labelbottom", "labeltop"), ("bottom", "top")),
                               (ax.yaxis, ("labelleft", "labelright"), ("left", "right"))):
        tick = axis.get_major_ticks(1)[0]
        if len(axis.get_majorticklocs()):            # (none: an axis without ticks, as the pictures')
            ax.add_artist(_tick_marks_class()(axis))
            ax.tick_params(axis=axis.axis_name, **dict.fromkeys(marks, False))
            axis.grid(False)
        if axis.get_label_text() and axis._autolabelpos:     # (label_under() fixes a label's place)
            continue
        for side, param in zip(("label1", "label2"), sides):
            if getattr(tick, side).get_visible():
                ax.add_artist(_tick_labels_class()(axis, side))
                ax.tick_params(axis=axis.axis_name, **{param: False})


def label_under(ax):
    """ax's x label put, once, where matplotlib puts it under one line of tick labels: the top of its text the
    ticks' padding, the labels' pad, their size and the label's pad below the axes (in points; measured to
    match). quick_ticks() may then draw those tick labels, which matplotlib would otherwise lay out and
    measure at every draw of the axes to place the label (~15 ms of a restage of the pairs' axes)."""
    from matplotlib.transforms import ScaledTranslation
    axis = ax.xaxis
    tick = axis.get_major_ticks(1)[0]
    points = tick.get_tick_padding() + tick.get_pad() + tick.label1.get_fontsize() + axis.labelpad
    axis.set_label_coords(0.5, 0, ax.transAxes + ScaledTranslation(0, -points / 72, ax.figure.dpi_scale_trans))


def quick_title(ax, fontsize, text="", loc="center", **kwargs):
    """A title line of ax as a quick text, where matplotlib puts its title of that `loc` (at y=1.0)."""
    return quick_text(ax, {"left": 0.0, "center": 0.5, "right": 1.0}[loc], 1.0, text, ha=loc, va="baseline",
                      transform=ax.transAxes + ax.titleOffsetTrans, fontsize=fontsize, **kwargs)


def placed_once(ax):
    """An axes' axis labels, where it has none, given their default place once: matplotlib otherwise measures
    every tick label at each draw of the axes to place them, and does the same for its titles unless they are
    set with y=1.0 (the place they have anyway without ticks on top): ~20 ms of a restage's ~80 before its tick
    labels were quick texts."""
    if not ax.get_xlabel():
        ax.xaxis.set_label_coords(0.5, -0.1)
    if not ax.get_ylabel():
        ax.yaxis.set_label_coords(-0.1, 0.5)


def slot_rect(row, col, rows=2, cols=3, left=0.05, right=0.975, bottom=0.06, top=0.91, wgap=0.075, hgap=0.1):
    w = (right - left - wgap * (cols - 1)) / cols
    h = (top - bottom - hgap * (rows - 1)) / rows
    return [left + col * (w + wgap), top - h - row * (h + hgap), w, h]


def finite(values):
    a = np.asarray(values, float)
    return a[np.isfinite(a)]


def steady(current, proposed, low, high, fill=FILL, tighten=True):
    """Axis limits with hysteresis: `current` (bottom, top) is kept while the data's extent [low, high] stays
    inside it and fills at least `fill` of it (or any share of it, unless `tighten`); otherwise `proposed`, the
    limits the data asks for now. So a curve that falls or a spread that grows moves its axis in a few coarse
    steps, each a redraw of that axes, rather than at every frame; and a zoom in, which only shows the same
    data larger, can wait until the display can afford it (Snapshot.tighten)."""
    if current is None or not (np.isfinite(low) and np.isfinite(high)):
        return proposed
    bottom, top = current
    if low < bottom or high > top or (tighten and (high - low) < fill * (top - bottom)):
        return proposed
    return current


def nice_ceil(x):
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above x > 0 (a limit the ticks divide)."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= x * (1 - 1e-9))


def loss_limits(train, test, last):
    """(top, outlier): the loss panel's upper limit, and the largest test point left above it as (i, loss)
    or None. The first tenth of the run is left out of the limit (its losses are ten times the later ones);
    so is a test loss over OUTLIER x the largest training loss (a batch-norm network tested before its moving
    averages are filled: 1e10-1e12 at iteration 0), which would flatten every curve onto zero."""
    ceiling = OUTLIER * max(finite(train[2]).max(initial=0.0), 1.0)
    later = lambda i, v: [x for j, x in zip(i, v) if j >= last * 0.1]  # noqa: E731
    pool = finite(later(train[0], train[2]) + [x for x in later(test[0], test[2]) if x <= ceiling])
    if not len(pool):
        pool = finite(list(train[2]) + [x for x in test[2] if x <= ceiling])
    top = float(np.percentile(pool, 98)) * 1.15 if len(pool) else 1.0
    off = [(i, x) for i, x in zip(test[0], test[2]) if np.isfinite(x) and x > ceiling]
    return top or 1.0, max(off, key=lambda p: p[1]) if off else None


@functools.cache
def _picture_class():
    """picture's class, made once (as quick_text's)."""
    from matplotlib.image import AxesImage

    class Picture(AxesImage):
        """An AxesImage drawn pixel for pixel when its axes shows all of it on an Agg canvas: an RGBA uint8 array
        of the axes' size on screen as it is (~0.1 ms instead of ~3); a smaller one shown "nearest" colour-mapped
        at its own size, then each screen pixel given its cell's colour (~0.5 ms instead of 2-7: matplotlib
        resamples the data to the screen's size and colour-maps every pixel there); zoomed in, larger than the
        axes or elsewhere, drawn as any image."""

        def draw(self, renderer):
            a, box, (left, right, bottom, top) = self._A, self.axes.bbox, self.get_extent()
            size = (round(box.height), round(box.width))
            whole = (self.axes.get_xlim(), self.axes.get_ylim()) == ((left, right), (bottom, top))
            rgba = a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 4
            upright = left < right and bottom > top      # row 0 on top, as imshow puts it
            if not (self.get_visible() and whole and type(renderer).__name__ == "RendererAgg" and a.ndim >= 2
                    and (a.shape[:2] == size or (self.get_interpolation() == "nearest" and upright
                                                 and a.shape[0] <= size[0] and a.shape[1] <= size[1]))):
                return super().draw(renderer)
            x0, y0 = round(box.x0), round(box.y0)
            if a.shape[:2] != size:
                kept = getattr(self, "_enlarged", None)
                if kept is None or kept[0] is not a or kept[1] != tuple(box.bounds):
                    small = np.ascontiguousarray(a if rgba else self.to_rgba(a, bytes=True)).view(np.uint32)[..., 0]
                    # the screen pixels whose centres the box holds, each the cell under its centre, as
                    # matplotlib's resampling finds it
                    x = np.arange(math.ceil(box.x0 - 0.5), math.floor(box.x1 - 0.5) + 1) + 0.5
                    y = np.arange(math.ceil(box.y0 - 0.5), math.floor(box.y1 - 0.5) + 1) + 0.5
                    cols = np.clip(((x - box.x0) / box.width * a.shape[1]).astype(int), 0, a.shape[1] - 1)
                    rows = np.clip(((box.y1 - y[::-1]) / box.height * a.shape[0]).astype(int), 0, a.shape[0] - 1)
                    # an RGBA pixel as one uint32: two takes, 0.35 ms for 300 x 750 (6.4 ms indexing the RGBA array)
                    enlarged = small.take(rows, 0).take(cols, 1)[..., None].view(np.uint8)
                    kept = self._enlarged = (a, tuple(box.bounds), enlarged, x[0] - 0.5, y[0] - 0.5)
                a, x0, y0 = kept[2:]
            gc = renderer.new_gc()
            gc.set_clip_rectangle(box)
            renderer.draw_image(gc, int(x0), int(y0), a[::-1])     # Agg's rows go upwards
            gc.restore()
            self.stale = False
    return Picture


def pixels(image):
    """`image` (an AxesImage, as imshow made it) drawn as a Picture from now on (see _picture_class)."""
    image.__class__ = _picture_class()
    return image


def picture(ax, rgb):
    """An image in `ax` (as imshow makes it: equal aspect, pixel centres on whole numbers, row 0 on top) that
    is drawn pixel for pixel, without matplotlib's resampling, whenever its array is exactly the size of the
    axes on screen and the axes shows all of it (_picture_class); zoomed in, or at another size, it is drawn
    as any image."""
    Picture = _picture_class()
    image = Picture(ax, interpolation="nearest", animated=True)
    image.set_data(rgb)
    ax.add_image(image)
    ax.set_aspect("equal")
    h, w = rgb.shape[:2]
    image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return image


def band_polygons(steps, values):
    """The 7 bands between 8 percentile curves `values` [m, 8] over `steps` [m], as polygons (lists of [k, 2]
    arrays) and the band each is (0-6): one polygon per band and per stretch of finite rows, so a NaN row (a
    diverged network) is a gap."""
    finite_rows = np.isfinite(values).all(1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite_rows.astype(np.int8), [0]])))
    polygons, which = [], []
    for start, stop in zip(edges[::2], edges[1::2]):
        t, v = steps[start:stop], values[start:stop]
        for k in range(7):
            polygons.append(np.concatenate([np.stack([t, v[:, k]], 1), np.stack([t[::-1], v[::-1, k + 1]], 1)]))
            which.append(k)
    return polygons, which


class Panels:
    """The six panels on a figure: the display's home view (visualiser.display says what a view is). Its
    parts are the panels' data, by number (1-6), and the latest figures in their titles, "t1" .. "t6", each
    with its own region: a panel's name is on the left of its title line, static (in the background), its
    figures on the right, drawn again only when they change (a 10-point text costs ~0.1 ms a character)."""
    layouts = LAYOUTS

    def __init__(self, fig, vis):
        import matplotlib
        from matplotlib.collections import PolyCollection
        self.fig, self.vis = fig, vis
        self.ax = {n: fig.add_axes(slot_rect(*SLOTS[n])) for n in TITLES}
        self.images, self.pictures = {}, {3: None, 6: None}    # (raw, its mosaic, the (size, whole) shown)
        for n in (3, 6):
            ax = self.ax[n]
            self.images[n] = picture(ax, np.full((28, 28, 3), 255, np.uint8))
            ax.set_xticks([])
            ax.set_yticks([])
        self.scale_of = {"cols": 40, "per_cell": 1, "tested": 10000}   # what panel 6's scale reads from
        self.scale = None                  # panel 6's accuracy scale, on its left, made with its first image
        self.lines = {}
        for n in (1, 2):
            ax = self.ax[n]
            self.lines[n] = (ax.plot([], [], color=TRAIN_COLOR, lw=0.8, alpha=0.8, label="training (batch)",
                                     animated=True)[0],
                             ax.plot([], [], color=TEST_COLOR, lw=1.6, marker="o", ms=3, label="test (all)",
                                     animated=True)[0])
            ax.legend(loc="lower right" if n == 1 else "upper right", fontsize=8, frameon=False)
            ax.grid(alpha=0.3)
        # bottom left: the corner a falling loss curve leaves empty
        self.off_scale = self.ax[2].text(0.02, 0.03, "", transform=self.ax[2].transAxes, va="bottom", fontsize=8,
                                         color=TEST_COLOR, animated=True)
        self.bands, self.band_colors = {}, {}
        for n, cmap in ((4, "Blues"), (5, "Oranges")):
            # darkest at the median; one collection of polygons per panel: one draw call for its 7 bands
            self.band_colors[n] = matplotlib.colormaps[cmap]([0.35, 0.5, 0.7, 0.9, 0.7, 0.5, 0.35])
            self.bands[n] = self.ax[n].add_collection(PolyCollection([], linewidths=0, animated=True),
                                                      autolim=False)
            self.ax[n].grid(alpha=0.3)
        self.names, self.figures = {}, {}
        for n, ax in self.ax.items():
            ax.tick_params(labelsize=8)     # (which also sets how many ticks fit)
            quick_ticks(ax)
            placed_once(ax)
            # the panel's name and its figures where matplotlib's titles stand (loc="left" and "right"), quick
            # texts: the name is drawn again with its axes, the figures at every frame
            self.names[n] = quick_title(ax, 10, TITLES[n], loc="left")
            self.figures[n] = quick_title(ax, 10, loc="right", animated=True)
        self.auto_limits = {}              # the limits update() set last; anything else is the user's zoom
        self.layout = "0"
        self.seen = None                   # the snapshot's lengths last shown: what changed since

    # -- the view interface --------------------------------------------------------------------------------
    def set_layout(self, key):
        """Show the panels of layout `key` (None: hide them all, for another view)."""
        shown = LAYOUTS[key] if key is not None else ()
        rects = ([slot_rect(*SLOTS[n]) for n in shown] if len(shown) == 6 else
                 [slot_rect(0, k, rows=1, cols=len(shown), bottom=0.07, wgap=0.09) for k in range(len(shown))])
        for n, ax in self.ax.items():
            ax.set_visible(n in shown)
        for n, rect in zip(shown, rects):
            self.ax[n].set_position(rect)
        if self.scale is not None:
            self.scale.set_visible(6 in shown)
        self.layout = "0" if key == "escape" else key
        self.forget()                      # every shown panel is drawn anew (the mosaics at their new size)

    def shown(self):
        """The panels shown, by number."""
        return list(LAYOUTS[self.layout]) if self.layout else []

    def parts(self):
        return [part for n in self.shown() for part in (n, f"t{n}")]

    def artists(self, part):
        """What changes in a part, in drawing order (the display draws them over the background)."""
        if isinstance(part, str):
            return [self.figures[int(part[1:])]]
        return {1: self.lines[1], 2: (*self.lines[2], self.off_scale), 3: (self.images[3],),
                4: (self.bands[4],), 5: (self.bands[5],), 6: (self.images[6],)}[part]

    def region(self, part):
        """The box (display pixels) that holds everything a part draws: a panel's axes (and the test line's
        dots on its edge), or the right three quarters of the line above them, where its figures stand."""
        from matplotlib.transforms import Bbox
        n = int(part[1:]) if isinstance(part, str) else part
        box = self.ax[n].bbox
        if not isinstance(part, str):
            return Bbox([[box.x0 - 3, box.y0 - 3], [box.x1 + 3, box.y1 + 3]])
        return Bbox([[box.x0 + box.width / 4, box.y1 + 4], [box.x1 + 4, box.y1 + 6 + 1.3 * self.fig.dpi * 10 / 72]])

    def statics(self):
        """The shown axes with what their static picture depends on (limits, so ticks; the panel's name; the
        test digits' scale) and the box that holds it."""
        return [(self.ax[n], (self.ax[n].get_xlim(), self.ax[n].get_ylim(), self.names[n].get_text(),
                              tuple(self.scale_of.values()) if n == 6 else None), self._static_box(n))
                for n in self.shown()]

    def reset_zoom(self):
        self.auto_limits = {}
        self.forget()

    def forget(self):
        """Draw every shown part anew at the next update (a new layout or canvas size)."""
        self.seen = None
        self.pictures = {n: kept and kept[:2] + (None,) for n, kept in self.pictures.items()}

    def update(self, snap):
        """Set the artists from `snap` (a published snapshot, see visualiser.display.Snapshot): returns the
        parts whose artists changed (what changed of the static picture, statics() says). Any value may be
        NaN or infinite (a diverging run, the NaN lesson of step 2.0): it is drawn as a gap."""
        seen = (len(snap.train[0]), len(snap.test[0]), len(snap.bands[0]), snap.length)
        old = self.seen or (None,) * 4
        self.changed = set() if self.seen else {f"t{n}" for n in TITLES}
        if seen[0:2] != old[0:2] or seen[3] != old[3]:
            self._curves(snap)
            self.changed |= {1, 2}
        if seen[2:4] != old[2:4]:
            self._bands(snap)
            self.changed |= {4, 5}
        for n, which in ((3, "training"), (6, "test")):
            if n in self.shown() and self._digits(n, snap.pictures.get(which)):
                self.changed.add(n)
        self.seen = seen
        return self.changed & set(self.parts())

    def _static_box(self, n):
        """The box that holds everything panel n draws that is not animated: its axes, the tick labels on
        their left (the test digits' scale too) and below, its name above (up to two lines)."""
        from matplotlib.transforms import Bbox
        box, top = self.ax[n].bbox, self.fig.bbox.height - TOP_LINE
        return Bbox([[box.x0 - 52, box.y0 - 26], [box.x1 + 8, min(box.y1 + 6 + 2.4 * self.fig.dpi * 10 / 72, top)]])

    # -- the panels ----------------------------------------------------------------------------------------
    def _title(self, n, name, figures):
        """Panel n's title line: its name (static: a new one is drawn with the axes) and its figures."""
        if self.names[n].get_text() != name:
            self.names[n].set_text(name)
        if self.figures[n].get_text() != figures:
            self.figures[n].set_text(figures)
            self.changed.add(f"t{n}")

    def _span(self, snap):
        """The iteration axis: the whole run from the start (a learner sees how far along it is)."""
        last = max(snap.length - 1 if snap.length else snap.iteration, 10)
        return 0, last * 1.02

    def _limits(self, n, xlim, ylim):
        ax = self.ax[n]
        if n in self.auto_limits and (ax.get_xlim(), ax.get_ylim()) != self.auto_limits[n]:
            return                         # zoomed by the user (O): kept until H
        if (ax.get_xlim(), ax.get_ylim()) != (tuple(xlim), tuple(ylim)):
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
        self.auto_limits[n] = (ax.get_xlim(), ax.get_ylim())

    def _auto(self, n):
        """The y limits update() set last on panel n, or None."""
        return self.auto_limits[n][1] if n in self.auto_limits else None

    def _curves(self, snap):
        train, t = snap.train, snap.test
        for n, col in ((1, 1), (2, 2)):
            train_line, test_line = self.lines[n]
            train_line.set_data(train[0], train[col])
            test_line.set_data(t[0], t[col])
        span = self._span(snap)
        top, outlier = loss_limits(train, t, snap.iteration)       # top: 1.15 x the 98th percentile
        self._limits(2, span, steady(self._auto(2), (0, nice_ceil(top)), 0, top / 1.15, tighten=snap.tighten))
        self.off_scale.set_text("" if outlier is None else
                                f"above the scale: test loss {outlier[1]:.3g} at iteration {outlier[0]:,}")
        acc = finite([a for i, a in zip(train[0], train[1]) if i >= snap.iteration * 0.1] + list(t[1]))
        p3 = float(np.percentile(acc, 3)) if len(acc) else 0.9
        low = min(0.9, math.floor(p3 * 50) / 50)
        self._limits(1, span, steady(self._auto(1), (low, 1.0 + (1 - low) * 0.02), p3, 1.0,
                                        tighten=snap.tighten))
        self._title(2, "cross-entropy loss", f"test {t[2][-1]:.2f}" if t[2] else "")
        best = finite(t[1])
        self._title(1, "accuracy", f"test {t[1][-1]:.2%} (max {best.max():.2%})" if len(best) else "")

    def _bands(self, snap):
        bands = snap.bands
        steps = np.asarray(bands[0], float)
        span = self._span(snap)
        for n, col, title in ((4, 1, self.vis.weights_title), (5, 2, self.vis.biases_title)):
            b = np.asarray(bands[col], float).reshape(len(steps), 8)
            polygons, which = band_polygons(steps, b)
            self.bands[n].set_verts(polygons)
            self.bands[n].set_facecolor(self.band_colors[n][which] if which else "none")
            seen = finite(b)
            if len(seen):
                lo, hi = float(seen.min()), float(seen.max())
                margin = (hi - lo) * 0.5 or 0.1        # room to grow: twice the spread (as sqrt(t): a step a 4x)
                self._limits(n, span, steady(self._auto(n), (lo - margin, hi + margin), lo, hi, fill=0.4,
                                                        tighten=snap.tighten))
            name = f"{title}: 7 percentile bands"
            # a panel's width holds about 55 characters at this size: the batch-norm steps' longer name wraps
            self._title(n, name.replace(": ", ":\n", 1) if len(name) > 40 else name,
                        f"{b[-1, 0]:.2g} .. {b[-1, -1]:.2g}" if len(steps) else "")

    def _digits(self, n, raw):
        """Panel n's picture from `raw` (what tf_format_mnist_images fetched, or an RGB array): the mosaic is
        made once per new image and resampled to the size the panel shows it at (the whole picture when the
        panel is zoomed in); False when nothing changed."""
        if raw is None:
            return False
        ax, image = self.ax[n], self.images[n]
        kept = self.pictures[n]
        if kept is None or kept[0] is not raw:
            mosaic = digit_mosaic(raw) if isinstance(raw, dict) else np.dstack(    # an RGB array: made opaque
                [raw, np.full(raw.shape[:2], 255, np.uint8)])
            kept = (raw, mosaic, None)
        mosaic = kept[1]
        h, w = mosaic.shape[:2]
        extent = (-0.5, w - 0.5, h - 0.5, -0.5)
        if tuple(image.get_extent()) != extent:
            image.set_extent(extent)
        self._limits(n, extent[:2], extent[2:])
        ax.apply_aspect()                  # the box the picture fills, in display pixels
        fig_w, fig_h = self.fig.canvas.get_width_height()
        pos = ax.get_position()
        size = (max(1, round(pos.height * fig_h)), max(1, round(pos.width * fig_w)))
        whole = (ax.get_xlim(), ax.get_ylim()) == (extent[:2], extent[2:])
        fit = (size, whole)
        if kept[2] == fit:
            return False
        self.pictures[n] = (raw, mosaic, fit)
        shown = shrink(mosaic, *size) if whole and size[0] < h else mosaic          # zoomed in: every pixel
        image.set_data(shown)             # RGBA: drawn as it is
        if n == 6:
            fetched = raw if isinstance(raw, dict) else {}
            self.scale_of = {"cols": w // 28, "per_cell": int(fetched.get("per_cell", 1)),
                             "tested": int(fetched.get("tested", 10000))}
            if self.scale is None:
                self._make_scale()
                self.scale.set_visible(ax.get_visible())
            shown_text = f"{w // 28 * (h // 28):,} of {self.scale_of['tested']:,}"
            if self.scale_of["per_cell"] > 1:
                k = self.scale_of["per_cell"]
                shown_text = f"every {k}{'nd' if k == 2 else 'th'} of {self.scale_of['tested']:,}"
            self._title(6, "test digits", f"{shown_text}, mistakes first")
        return True

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
        quick_ticks(self.scale)
