"""The look-inside view live: a view of the display core (visualiser.display says what a view is) that key I
swaps in for the six panels and back (0 and ESC also bring the panels back). In the view, N and B pick the next
and the previous digit of the last test (mistakes first), and a click on a cell of the confusion matrix picks
a digit of that cell among those the test panel holds (a right one on the diagonal).

Who fetches what. Live, made by MnistDataVis.animate, is shared by the training thread and the display's:
- after every training step, in the training thread (after_step): a test step's confusion matrix is kept
  (an identity check: the test run fetched it already, 400 bytes); and only while a screen shows the view,
  once a test came after the last look and a frame has drawn that look (or at once when the view was just
  shown or another digit asked for), one network.look(): the first layer's weights and the digit's trace in
  one session run. So at most one look a frame: 1.0 tests 45 times in its 2 s, its view draws 8-10 frames. In
  the training thread, because a run from any other thread waits for the training's ops anyway (the session
  has one thread between ops), and there it costs no lock and no wait.
- when the training does not run (paused, finished, or the final --save-png), the display's thread makes that
  run itself, at once.
Nothing is fetched while no screen shows the view.
"""
import threading

from . import inside, inside_view, mistakes, pacing

KEY, NEXT, PREVIOUS = "i", "n", "b"
RECT = [0.02, 0.02, 0.96, 0.91]           # the view's place in the figure, under the status line


class Live:
    """What the view shows, kept across the training thread and the display's: the test runs' confusion
    matrices, the network read from the graph (at the first show), the digit picked, and the last look()."""

    def __init__(self, vis, compute_step, loop=None):
        self.vis, self.compute_step, self.loop = vis, compute_step, loop
        self.mistakes = mistakes.Mistakes()
        self.network = None
        self.showing = set()               # the views (one per screen) shown now
        self.k = 0                         # the digit picked: its place among the test panel's digits
        self.wanted = True                 # a look is due now: the view shown, another digit picked
        self.behind = False                # a test has come since the last look
        self.seen = (None, None)           # the last look(): (pictures, trace), one assignment
        self.drawn = None                  # the look a frame drew last (View.update)
        self.lock = threading.Lock()       # one reading of the graph, one look at a time

    def find(self):
        with self.lock:
            if self.network is None:
                self.network = inside.find(self.compute_step)
            return self.network

    def after_step(self, i, tested):
        """In the training thread, after step i (`tested`: it ran the test)."""
        if tested:
            self.mistakes.observe(self.vis)
            self.behind = True
        if self.showing and (self.wanted or (self.behind and self.seen is self.drawn)):
            self.look(i)

    def look(self, iteration):
        network = self.find()
        with self.lock:
            self.wanted = self.behind = False
            digit = mistakes.test_digit(self.vis.digits_fetched("test"), self.k)
            self.seen = network.look(digit, iteration)

    def refresh(self):
        """On the display's thread: a look that is due, made now when the training does not run (else the
        training thread makes it after its next step)."""
        loop = self.loop
        idle = loop is None or loop.done.is_set() or not loop.running.is_set()
        if (self.wanted or self.behind) and self.showing and idle:
            self.look(self.vis.iteration)

    def step(self, by):
        """N / B: the next or the previous digit of the last test."""
        self.k += by
        self.wanted = True

    def pick(self, label, computed):
        """The next digit of the test panel's whose correct label and computed class are these (a cell of the
        confusion matrix); False if it holds none."""
        fetched = self.vis.digits_fetched("test")
        if not fetched:
            return False
        shown = int(fetched["shown"])
        hits = [k for k in range(shown) if fetched["labels"][k] == label and fetched["computed"][k] == computed]
        if not hits:
            return False
        now = self.k % shown
        self.k = next((k for k in hits if k > now), hits[0]) if (label, computed) == self._cell(now) else hits[0]
        self.wanted = True
        return True

    def _cell(self, k):
        fetched = self.vis.digits_fetched("test")
        return int(fetched["labels"][k]), int(fetched["computed"][k])


def live_of(vis):
    """The vis's Live (made by animate), or one of its own (a vis drawn without animate: nothing to trace)."""
    live = getattr(vis, "inside", None)
    if live is None:
        live = vis.inside = Live(vis, None)
    return live


class View:
    """The look-inside view as the display core drives it: visualiser.inside_view.InsideView's axes, its
    changing artists made animated, each axes a part."""
    layouts = {KEY: (), NEXT: (), PREVIOUS: ()}     # N and B pick a digit; the layout stays I
    burst = pacing.VIEW_BURST                        # what the budget's bucket holds while it is shown
    budget = pacing.VIEW_BUDGET                      # and the share of a core it is refilled at

    def __init__(self, fig, vis):
        self.fig, self.vis, self.live = fig, vis, live_of(vis)
        loop = self.live.loop
        network = self.live.find()
        self.drawing = inside_view.InsideView(fig, RECT, network.outline(), loop.iterations if loop else None)
        for ax in self.drawing.axes:
            for artist in self.drawing.artists(ax):
                artist.set_animated(True)
        self.outside = {self.drawing.ax_confusion: [self.drawing.confusion_heading, self.drawing.confusion_title],
                        self.drawing.ax_digit: [self.drawing.digit_title, self.drawing.trace_title],
                        self.drawing.ax_probabilities: [self.drawing.probability_title]}
        self.home = {ax: (ax.get_xlim(), ax.get_ylim()) for ax in self.drawing.axes}
        self.layout = None
        self.extents, self.boxes = {}, {}   # texts out of their axes: last drawn extent; static boxes
        self.drawing.set_visible(False)

    def set_layout(self, key):
        if key in (NEXT, PREVIOUS):
            self.live.step(1 if key == NEXT else -1)
            return
        self.layout = key
        self.drawing.set_visible(key is not None)
        if key is None:
            self.live.showing.discard(self)
        else:
            self.live.showing.add(self)
            self.live.wanted = True
            self.forget()

    def parts(self):
        return [ax for ax in self.drawing.axes if self.drawing.artists(ax)] if self.layout else []

    def artists(self, part):
        return self.drawing.artists(part)

    def update(self, snap):
        self.live.refresh()
        for ax in self.outside:
            old, now = self.extents.get(ax, (None, None))
            if now is None:                # drawn since by a full render, not a frame: their extent as drawn
                self.extents[ax] = (old, self._texts(ax))
        pictures, trace = self.live.drawn = self.live.seen
        changed = set(self.drawing.update(self.live.mistakes, pictures, trace, snap.tighten))
        if self.drawing.limits_changed:
            self.drawing.limits_changed = False
            for ax in (self.drawing.ax_accuracy, self.drawing.ax_pairs):
                self.home[ax] = (ax.get_xlim(), ax.get_ylim())
        for ax in changed & set(self.outside):     # its titles' old extent is erased, their new one drawn
            self.extents[ax] = (self.extents.get(ax, (None, None))[1], None)
        return changed & set(self.parts())

    def region(self, part):
        """The axes, and the texts drawn out of it (titles) as they are now and as they were last drawn."""
        from matplotlib.transforms import Bbox
        box = part.bbox
        boxes = [Bbox([[box.x0 - 3, box.y0 - 3], [box.x1 + 3, box.y1 + 3]])]
        if part in self.outside:
            old, now = self.extents.get(part, (None, None))
            if now is None:
                now = self._texts(part)
                self.extents[part] = (old, now)
            boxes += [b for b in (old, now) if b is not None]
        return Bbox.union(boxes)

    def _texts(self, ax):
        """The extent of ax's texts out of it, as they are now, padded (None: all empty)."""
        from matplotlib.transforms import Bbox
        renderer = self.fig.canvas.get_renderer()
        extents = [t.get_window_extent(renderer) for t in self.outside[ax] if t.get_text()]
        return Bbox.union(extents).padded(4) if extents else None

    def statics(self):
        if not self.layout:
            return []
        size = self.fig.canvas.get_width_height()
        out = []
        for ax in self.drawing.axes:
            limits = (ax.get_xlim(), ax.get_ylim())
            if (ax, size, limits) not in self.boxes:       # its ticks, labels and title: measured once a size
                self.boxes[(ax, size, limits)] = ax.get_tightbbox(self.fig.canvas.get_renderer()).padded(6)
            out.append((ax, limits, self.boxes[(ax, size, limits)]))
        return out

    def forget(self):
        self.drawing.forget()
        self.extents = {}

    def reset_zoom(self):
        for ax, (x, y) in self.home.items():
            ax.set_xlim(*x)
            ax.set_ylim(*y)

    def click(self, x, y):
        """A click at display pixels (x, y): on the confusion matrix, a digit of that cell is traced."""
        ax = self.drawing.ax_confusion
        if not (self.layout and ax.bbox.contains(x, y)):
            return False
        col, row = ax.transData.inverted().transform((x, y))
        row, col = int(round(row)), int(round(col))
        return 0 <= row < 10 and 0 <= col < 10 and self.live.pick(row, col)
