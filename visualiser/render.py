"""A figure drawn cheaply, after matplotlib's blitting guide: one canvas (the window's Tk canvas, or the Agg
canvas of the page, the notebook, the movie and the PNG) showing one view at a time. A leaf: the view is
given to it (visualiser.display says what a view is).

The background is the figure without its animated artists (axes, ticks, labels, grid, legends): a full draw
renders it once per view, layout and canvas size and keeps it (up to CACHED of them, so a key that brings
back a layout costs a copy, not a render). A frame copies the background back into the regions whose
artists changed and draws those artists (draw_artist): "blit". When an axes' static picture changes (new
limits, so new ticks), only that axes is drawn again, in its own box, and the kept background is patched
with it: "restage". The front end then puts the returned boxes on screen (the window blits them) or reads
the whole buffer (the page, the movie). Backgrounds and the canvas's buffer are handled as numpy arrays
(matplotlib's BufferRegion and buffer_rgba are writable views): restoring a region is one array copy.

Costs at 1280 x 720 (docs/display.md has the measured split): a full draw of the six panels ~80-150 ms of
CPU, a frame that updates all six ~7-30 ms, a restage ~10-25 ms an axes.
"""
from collections import OrderedDict

import numpy as np

CACHED = 12               # backgrounds kept, each 3.7 MB at 1280 x 720: every layout of the panels, and a view


class Canvas:
    """The figure `fig` (on its canvas already) showing `view`, and `parts`: figure-level animated artists and
    the functions that give their regions, {name: (artists, region())} (the status line)."""

    def __init__(self, fig, view, parts=None):
        self.fig, self.canvas, self.view, self.parts = fig, fig.canvas, view, parts or {}
        self.backgrounds = OrderedDict()   # (view, layout, size) -> [BufferRegion, its statics]
        self.key = None                    # the key of the background now on the canvas
        self.full_draws = 0
        self.prerendering = None           # the layout being rendered off screen (prerender), if any
        self.canvas.mpl_connect("draw_event", self._drawn)

    def show(self, view):
        """Another view (its layout already set): its background is found or drawn at the next frame."""
        self.view = view

    def frame(self, changed):
        """Bring the canvas up to date after the view's update(): `changed` names the parts whose artists
        changed. Returns (kind, boxes): kind "full" (the figure rendered), "cached" (a kept background put
        back: every artist drawn), "restage" (axes with new limits drawn again, then the changed parts),
        "blit" (the changed parts only) or None (nothing to do); boxes: the display boxes to put on screen."""
        key = self._key()
        if key != self.key:
            if key not in self.backgrounds:
                self.full_draws += 1
                self.canvas.draw()         # _drawn() keeps the background and draws the animated artists
                return "full", [self.fig.bbox]
            self.backgrounds.move_to_end(key)
            self.key = key
            self._restore(self.fig.bbox)
            self._restage(self._stale(), [], {})
            self._draw(self._names())
            return "cached", [self.fig.bbox]
        stale = self._stale()
        regions = {name: self._region(name) for name in self._names()}    # once a frame (~0.1 ms each)
        names = self._closure(set(changed) & set(regions), regions, [box for _, _, box in stale])
        if stale:
            return "restage", self._restage(stale, names, regions) + [regions[name] for name in names]
        if not names:
            return None, []
        for name in names:
            self._restore(regions[name])
        self._draw(names)
        return "blit", [regions[name] for name in names]

    def prerender(self, layout):
        """Render the background of the view's `layout` off screen and keep it (a key that brings it then costs
        a copy, not a render); the canvas's picture is put back as it was, and the view's own layout."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        shown, picture, key = self.view.layout, np.array(self.canvas.buffer_rgba()), self.key
        self.view.set_layout(layout)
        self.prerendering = layout
        try:
            FigureCanvasAgg.draw(self.canvas)      # the Agg render alone: a window's screen is not touched
        finally:
            self.prerendering = None
            self.view.set_layout(shown)
            np.asarray(self.canvas.buffer_rgba())[:] = picture
            self.key = key

    def kept(self, layout):
        """Whether the view's `layout` has a kept background at the canvas's size."""
        return (id(self.view), layout, self.canvas.get_width_height()) in self.backgrounds

    def rgb(self):
        """The canvas's picture as an [h, w, 3] uint8 array (a copy)."""
        return np.array(self.canvas.buffer_rgba())[..., :3]

    # -- inside ----------------------------------------------------------------------------------------------
    def _key(self):
        return id(self.view), self.view.layout, self.canvas.get_width_height()

    def _names(self):
        return [*self.view.parts(), *self.parts]

    def _region(self, name):
        return self.parts[name][1]() if name in self.parts else self.view.region(name)

    def _artists(self, name):
        return self.parts[name][0] if name in self.parts else self.view.artists(name)

    def _stale(self):
        """The shown axes whose static picture is not the background's: [(axes, its key, its box)], the box
        grown to hold what it was drawn as too (an axes whose aspect changed its place)."""
        from matplotlib.transforms import Bbox
        drawn = self.backgrounds[self.key][1]
        return [(ax, key, Bbox.union([box, drawn[ax][1]]) if ax in drawn else box)
                for ax, key, box in self.view.statics() if drawn.get(ax, (None,))[0] != key]

    def _drawn(self, event):
        """After every full draw of the figure (ours, the toolbar's zoom, a resize, the window's first show):
        keep the background, then draw the animated artists over it."""
        self.key = self._key()
        self.backgrounds[self.key] = [self.canvas.copy_from_bbox(self.fig.bbox),
                                      {ax: (key, box) for ax, key, box in self.view.statics()}]
        self.backgrounds.move_to_end(self.key)
        while len(self.backgrounds) > CACHED:
            self.backgrounds.popitem(last=False)
        self._draw(self._names())

    def _rows_cols(self, box):
        """The pixel rows and columns of a display box (origin bottom left) in the buffer (origin top left)."""
        w, h = self.canvas.get_width_height(physical=True)
        x0, x1 = max(int(box.x0), 0), min(int(np.ceil(box.x1)), w)
        y0, y1 = max(int(box.y0), 0), min(int(np.ceil(box.y1)), h)
        return slice(h - y1, h - y0), slice(x0, x1)

    def _restore(self, box):
        rows, cols = self._rows_cols(box)
        np.asarray(self.canvas.buffer_rgba())[rows, cols] = np.asarray(self.backgrounds[self.key][0])[rows, cols]

    def _restage(self, stale, names, regions):
        """New limits on a few axes: their boxes blanked and those axes drawn alone (matplotlib leaves their
        animated artists out), the kept background patched with them; the parts around (`names`, at their
        `regions`) are put back first. Returns the boxes drawn."""
        if not stale:
            return []
        for name in names:
            self._restore(regions[name])
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import IdentityTransform
        renderer = self.canvas.get_renderer()
        for _, _, box in stale:
            blank = Rectangle((int(box.x0), int(box.y0)), int(box.width) + 2, int(box.height) + 2,
                              transform=IdentityTransform(), facecolor=self.fig.get_facecolor(), edgecolor="none",
                              antialiased=False)
            blank.set_figure(self.fig)
            blank.draw(renderer)
        for ax, _, _ in stale:
            ax.draw(renderer)
        background, drawn = self.backgrounds[self.key]
        buffer = np.asarray(self.canvas.buffer_rgba())
        now = {ax: box for ax, _, box in self.view.statics()}
        for ax, key, box in stale:
            rows, cols = self._rows_cols(box)
            np.asarray(background)[rows, cols] = buffer[rows, cols]
            drawn[ax] = (key, now[ax])
        self._draw(names)
        return [box for _, _, box in stale]

    def _closure(self, names, regions, boxes=()):
        """The changed parts, those whose region ({part: box}, in drawing order) overlaps a box drawn again,
        and every part whose region overlaps one of those (putting the background back in a region erases
        what its neighbour drew there, so the neighbour is drawn again too); in drawing order."""
        names = set(names) | {n for n, r in regions.items() if any(r.overlaps(b) for b in boxes)}
        grown = True
        while grown:
            grown = False
            for other in set(regions) - names:
                if any(regions[other].overlaps(regions[n]) for n in names):
                    names.add(other)
                    grown = True
        return [n for n in regions if n in names]

    def _draw(self, names):
        for name in names:
            for artist in self._artists(name):
                self.fig.draw_artist(artist)
