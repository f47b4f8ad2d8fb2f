"""The display core, one for every front end (the window, the --web page, the notebook cell, and --text with
--save-movie): the figure and its views, the frames and their pacing, the keys, the hand-off with the
training thread, the movie's frames, the PNG and the frame log. The front ends only put the frames where
they go (visualiser.window blits them to Tk; visualiser.web and visualiser.notebook serve them as PNGs).

The hand-off. The training runs in a worker thread; matplotlib is touched only here, on the thread that made
the figure. After each training step the worker publishes one tuple (MnistDataVis.publish: the lengths of
the series and the two pictures' references, a single assignment), and a frame draws a Snapshot cut to those
lengths: it never mixes two iterations, however the appends of the next step interleave.

The pacing (visualiser.pacing). A frame is drawn when the published data moved, at most every FRAME_S (when
only the iteration moved, every STATUS_S), while the display's CPU stays within BUDGET of one core; a key
draws at once. A frame costs what changed: visualiser.render restores the kept background of the changed
regions and draws their artists only.

A view (the six panels are the home view, visualiser.panels.Panels; another is swapped in by its key and
left with 0 or ESC) is a class made on the figure, View(fig, vis), whose changing artists are animated:
layouts, layout, set_layout(key), parts(), update(snapshot) -> changed parts, artists(part), region(part),
statics(), forget(), reset_zoom() (docs/display.md says what each is for; tests/test_visu.py has a small one).
Set TFVISU_FRAME_LOG=FILE to have every frame put on screen, in a page or in the movie written to FILE as a
JSON line (time.monotonic(), the iteration shown, full or blit, its CPU time); unset, it costs nothing.
"""
import math
import queue
import threading
import time

from . import files, pacing, panels, render, runloop

WATCHED_S = 15            # a page that has not asked for a frame for this long is gone: no frames for it


class Snapshot:
    """What one frame shows: the data as the training thread last published it. `length`: the run's
    iterations (the iteration axis spans them), None when unknown. `tighten`: whether an axes may zoom in to
    data that has shrunk inside its limits (a redraw of that axes, ~20-40 ms: the window's frames hold it while
    their budget is short; growing data always moves the limits)."""

    def __init__(self, vis, length=None, tighten=True):
        self.tighten = tighten
        published = vis.published or (0, 0, 0, 0, None, None, 0)     # nothing yet: empty panels
        self.iteration, n_train, n_test, n_bands, training, test, self.updates = published
        self.train = tuple(c[:n_train] for c in vis.train)
        self.test = tuple(c[:n_test] for c in vis.test)
        self.bands = tuple(c[:n_bands] for c in vis.bands)
        self.pictures = {"training": training, "test": test}
        self.length = length


class Screen:
    """A figure showing the views (the panels first) and a status line, drawn cheaply from snapshots."""

    def __init__(self, fig, vis, views=None):
        self.fig, self.vis = fig, vis
        # the key that brings each view: the views given, else the vis's (MnistDataVis: the look-inside view)
        self.kinds = {"0": panels.Panels} | dict(views or getattr(vis, "views", None) or {})
        self.views = {"0": panels.Panels(fig, vis)}
        self.view = self.views["0"]
        # the top line: the run's name (static, in the background) and what changes after it (the iteration),
        # both drawn by Pillow so that they stand on one line
        panels.quick_text(fig, 0.495, 0.99, vis.title, ha="right", va="top", fontsize=11)
        self.status = panels.quick_text(fig, 0.505, 0.99, ha="left", va="top", fontsize=11, animated=True)
        self.canvas = render.Canvas(fig, self.view, {"status": ([self.status], self._status_box)})
        self.size = None
        first = getattr(vis, "first_view", "0")       # --view: the view shown first (and saved)
        if first != "0":
            self.key(first)

    def _status_box(self):
        from matplotlib.transforms import Bbox
        w, h = self.fig.bbox.width, self.fig.bbox.height
        return Bbox([[w * 0.5, h - panels.TOP_LINE], [w, h]])

    def key(self, key):
        """A layout key of the view shown, a view's own key (again: back to the panels), or 0/ESC back to the
        panels; False if none."""
        if key in self.kinds and key != "0" and self.view is self.views.get(key):
            self._switch(self.views["0"], "0")
        elif key in self.kinds and key != "0":
            view = self.views.get(key) or self.kinds[key](self.fig, self.vis)
            self.views[key] = view
            self._switch(view, next(iter(view.layouts)))
        elif key in self.view.layouts:
            self.view.set_layout(key)
        elif key in ("0", "escape"):
            self._switch(self.views["0"], "0")
        else:
            return False
        return True

    def _switch(self, view, layout):
        self.view.set_layout(None)
        view.set_layout(layout)
        self.view = view
        self.canvas.show(view)

    def prerender(self):
        """One layout of the six panels (while they are shown) whose background is not kept yet, rendered off
        screen (~50-100 ms of CPU): a key's first visit is then a copy. False when there is none left."""
        if self.view is not self.views["0"] or self.canvas.key is None:
            return False
        todo = [k for k in self.view.layouts if k not in ("escape", self.view.layout) and not self.canvas.kept(k)]
        if todo:
            self.canvas.prerender(todo[0])
        return bool(todo)

    def prepare(self, snap, status):
        """Set the artists from `snap` without drawing: the figure's first draw (a window's, when it is
        shown) then has the data's limits, and no axes needs drawing again at the first frame."""
        self.size = self.fig.canvas.get_width_height()
        self.view.update(snap)
        self.status.set_text(status)

    def draw(self, snap, status):
        """Bring the figure up to date with `snap`: (kind, boxes) as visualiser.render.Canvas.frame."""
        size = self.fig.canvas.get_width_height()
        if size != self.size:              # a new window size: the pictures are resampled to it
            self.size = size
            self.view.forget()
        changed = self.view.update(snap)
        if status != self.status.get_text():
            self.status.set_text(status)
            changed.add("status")
        return self.canvas.frame(changed)

    def rgb(self):
        return self.canvas.rgb()


def agg_screen(vis, views=None):
    """A Screen on an off-screen 1280 x 720 figure (the page, the notebook, the movie, the PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=panels.FIGSIZE, dpi=panels.DPI)
    FigureCanvasAgg(fig)
    return Screen(fig, vis, views)


def picture(vis, status, length=None):
    """The six panels as they stand (all of the data: call it once the training is over), as an RGB array."""
    vis.publish()
    screen, snap = agg_screen(vis), Snapshot(vis, length)
    screen.draw(snap, f"iteration {snap.iteration:,}   {status}")
    return screen.rgb()


def save_final_png(vis, path, length=None):
    """--save-png at the end of the run: a failure is one line and the exit status, not a traceback."""
    try:
        files.write_png(picture(vis, f"max test accuracy {vis.get_max_test_accuracy():.2%}", length), path)
    except OSError as e:
        runloop.failed(f"could not write the PNG {path} ({e.strerror or e}): nothing saved")
        return
    print(f"saved the panels to {path}", flush=True)


def start_training(vis, loop, screen):
    """The training in a worker thread (returned, started), held after its first step until the display's
    started(); screen: a picture waits for the first training figures (MnistDataVis._first_figures)."""
    worker = threading.Thread(target=loop.run, name="training", daemon=True)
    vis.first_early = screen               # the first picture: without waiting for the first test
    loop.proceed.clear()
    worker.start()
    return worker


class Display:
    """The run: the training in a worker thread, and on this thread the keys, the frames of `screen` (a
    Screen, or None: --text with a movie), the movie's frames, and for pages (pages=True: the web page, the
    notebook) each frame as a PNG with its state. Front ends set put(kind, boxes) to show a frame; run() is
    the loop of a front end without a GUI toolkit of its own."""

    def __init__(self, vis, loop, screen=None, target="window", movie=None, pages=False):
        self.vis, self.loop, self.screen, self.movie, self.pages = vis, loop, screen, movie, pages
        self.pacer, self.log = pacing.Pacer(), pacing.FrameLog(target)
        self.blocks = pacing.Blocks(self.pacer, self.log)
        if movie:
            movie.log = self.log
        self.keys, self.woken = queue.Queue(), threading.Event()
        self.message, self.finished, self.quit = "", False, False
        self.drawn, self.frame_at, self.key_at, self.put = None, 0.0, None, None
        self.failures, self.failure_said = 0, False   # frames that raised in a row; said once in the output
        # for pages: the last frame, its number and state; `changed` is notified at each new one. Its PNG
        # (~15-30 ms of CPU) is made by the first thread that asks for it, a page's request in the server's
        # thread: a frame no page fetches is never encoded; the encoding counts in the display's budget.
        self.frames, self.state, self.changed = 0, {"frame": 0}, threading.Condition()
        self.picture, self._png, self.encoding, self.encode_cpu = None, None, threading.Lock(), 0.0
        self.closing, self.watched_until, self.always_watched, self.on_frame = False, 0.0, not pages, None

    # -- from any thread --------------------------------------------------------------------------------
    def press(self, key):
        """A key (or a box zoom: ("zoom", x0, y0, x1, y1) in fractions of the picture), applied by tick()."""
        self.keys.put((key, time.monotonic()))
        self.woken.set()

    def watch(self):                       # a page asked for a frame
        self.watched_until = time.monotonic() + WATCHED_S

    # -- on the display's thread ------------------------------------------------------------------------
    def apply(self, key):
        """One of the window's keys; False if it is none of them."""
        running = self.loop.running
        if isinstance(key, tuple):
            self.zoom(*key[1:])
        elif self.screen is not None and self.screen.key(key):
            pass
        elif key == " ":
            (running.clear if running.is_set() else running.set)()
        elif key == "h":
            self.reset_zoom()
        elif key == "q":
            self.quit = True
            self.loop.stop.set()
            running.set()
        else:
            return False
        return True

    def tick(self, linger=False):
        """Apply the keys, draw the movie's frame and the screen's when they are due."""
        redraw = False
        while not self.keys.empty():
            key, at = self.keys.get()
            if self.apply(key):
                redraw, self.key_at = True, (key, at)
        if self.loop.done.is_set() and not self.finished:
            self.finished = redraw = True
            self.quit = self.quit or self.loop.error is not None    # an error: no lingering, animate raises it
            if self.loop.error is None:
                self.message = f"finished: max test accuracy {self.vis.get_max_test_accuracy():.2%}"
                self.finished_line(linger)
        now = time.monotonic()
        if self.screen is not None:       # the view shown says how much anything drawn may spend at once
            self.pacer.burst = getattr(self.screen.view, "burst", pacing.BURST)
            self.pacer.budget = getattr(self.screen.view, "budget", pacing.BUDGET)
        if self.encode_cpu:                # the pages' PNGs, encoded in the server's threads
            with self.encoding:
                spent, self.encode_cpu = self.encode_cpu, 0.0
            self.pacer.spent(now, spent, paced=False)
        if self.movie and self.movie.due() and self.pacer.affordable(now):
            self.pacer.spent(now, self.movie.frame(), paced=False)
        watched = (self.always_watched or now < self.watched_until) and (self.finished or self.blocks.drawing(now))
        if self.screen is not None and redraw:
            self.key_frame()
        elif self.screen is not None and watched and self._moved(now) and self.pacer.ready(now):
            self.frame()
        elif self.screen is not None and not self.finished and not self._moved(now) and self.pacer.full(now):
            cpu = time.thread_time()       # nothing to draw and the budget full: a layout kept for its key
            if self.screen.prerender():
                self.pacer.spent(time.monotonic(), time.thread_time() - cpu, paced=False)

    def _moved(self, now):
        """New data published since the last frame, or only a later iteration (shown less often)."""
        p, drawn = self.vis.published, self.drawn
        if p is drawn:
            return False
        return drawn is None or p[6] != drawn[6] or now >= self.frame_at + pacing.STATUS_S

    def first_data(self, wait_s=1.0):
        """The first published step's data, waited for up to wait_s, set on the screen's view: the first picture
        then has its limits, and no axes needs drawing again at the first frame."""
        end = time.monotonic() + wait_s
        while self.vis.published is None and not self.loop.done.is_set() and time.monotonic() < end:
            time.sleep(0.02)
        snap = Snapshot(self.vis, self.loop.iterations)
        self.screen.prepare(snap, self.status(snap))
        self.log.write(target="first", iteration=snap.iteration, train=len(snap.train[0]), test=len(snap.test[0]),
                       updates=snap.updates)           # what the first picture shows (the frame log's readers)

    def start_training(self):
        return start_training(self.vis, self.loop, screen=self.screen is not None)

    def close_log(self):
        """The movie's last state drawn while the frame log is still open (the movie logs its frames there),
        then the log closed."""
        if self.movie and self.loop.error is None:
            self.movie.frame(final=True)
        self.log.close()

    def started(self):
        """The first picture is drawn (a full render, ~0.3 s of CPU, the display's start-up): the training goes
        on past its first step (runloop.Loop.proceed), and the budget counts from here, full."""
        self.pacer = pacing.Pacer()
        self.pacer.spent(time.monotonic(), 0.0)   # the next frame no sooner than FRAME_S after it
        self.blocks = pacing.Blocks(self.pacer, self.log, time.monotonic())
        self.loop.proceed.set()

    def finished_line(self, linger):
        """The line a run prints when its training has finished (the window's says how to end)."""
        if linger and not self.quit:
            print(f"training {self.message}; the page stays up until Ctrl-C (or Q in the page)", flush=True)

    def wait(self):
        """How long the display's thread may sleep before the next tick: until the next frame may be drawn
        when there is something to draw, else 50 ms (new data waits that long at most; a key wakes it)."""
        now = time.monotonic()
        if self.screen is None or not self._moved(now):
            return 0.05
        return min(0.05, max(0.005, self.pacer.wait(now)))

    def status(self, snap):
        """What follows the run's name on the top line."""
        paused = "" if self.loop.running.is_set() or self.finished else "PAUSED (SPACE resumes)"
        return "   ".join(filter(None, (f"iteration {snap.iteration:,}", paused, self.message)))

    def frame(self):
        """Draw the newest published state on the screen, now."""
        start, cpu = time.monotonic(), time.thread_time()
        snap = Snapshot(self.vis, self.loop.iterations, tighten=self.finished or self.pacer.full(start))
        self.drawn, self.frame_at = self.vis.published, start
        try:
            kind, boxes = self.screen.draw(snap, self.status(snap))
        except ValueError as e:
            # a value matplotlib refuses: said once (a silent failure would freeze the picture); the training
            # goes on, and the next frame tries again
            self.drawn, self.failures = None, self.failures + 1
            self.pacer.spent(time.monotonic(), time.thread_time() - cpu)
            if self.failures >= 2 and not self.failure_said:
                self.failure_said = True
                print(f"tensorflowvisu: the panels could not be drawn at iteration {snap.iteration} "
                      f"({type(e).__name__}: {e}); the training goes on", flush=True)
            return
        self.failures = 0
        drawn = time.thread_time()
        if kind and self.put:
            self.put(kind, boxes)
        if self.pages:
            self._publish(snap)
        cost = time.thread_time() - cpu
        self.pacer.spent(time.monotonic(), cost)
        key = {"key": self.key_at[0] if isinstance(self.key_at[0], str) else "zoom",
               "key_t": round(self.key_at[1], 4)} if self.key_at else {}
        self.key_at = None
        self.log.write(kind=kind, boxes=len(boxes), iteration=snap.iteration, updates=snap.updates,
                       cpu=round(cost, 4), put=round(cost - (drawn - cpu), 4), wall=round(time.monotonic() - start, 4),
                       **key)

    def key_frame(self):
        """A frame someone waits for (a key, a click), drawn now: the training's next step waits for it (the
        step in flight goes on), so that it has the cores; the wait is not counted as training."""
        self.loop.proceed.clear()
        try:
            self.frame()
        finally:
            self.loop.proceed.set()

    def _publish(self, snap):
        tests = [a for a in snap.test[1]]
        seen = [a for a in tests if math.isfinite(a)]      # the page's JSON has no NaN: a diverged run's is null
        state = {"title": self.vis.title, "iteration": snap.iteration, "layout": self.screen.view.layout,
                 "paused": not self.loop.running.is_set() and not self.finished, "finished": self.finished,
                 "message": self.message, "tests": len(tests), "first_test": snap.test[0][0] if tests else None,
                 "test_accuracy": tests[-1] if tests and math.isfinite(tests[-1]) else None,
                 "max_accuracy": max(seen, default=None)}
        picture = self.screen.rgb()
        with self.encoding:
            self.picture, self._png = picture, None
        with self.changed:
            self.frames += 1
            self.state = dict(state, frame=self.frames)
            self.changed.notify_all()
        if self.on_frame:
            self.on_frame(self.png)

    @property
    def png(self):
        """The last frame as PNG bytes (None before the first), encoded once, by the first thread to ask."""
        with self.encoding:
            if self._png is None and self.picture is not None:
                start = time.thread_time()
                self._png = files.png_bytes(self.picture)
                self.encode_cpu += time.thread_time() - start
            return self._png

    def zoom(self, x0, y0, x1, y1):
        """The box the user drew on the picture, applied to the shown axes under its centre, as the window's
        O does; the view keeps a zoom until H."""
        fig = self.screen.fig
        w, h = fig.canvas.get_width_height()
        corners = [[x0 * w, (1 - y0) * h], [x1 * w, (1 - y1) * h]]       # display pixels, origin bottom left
        if (x0, y0) == (x1, y1):           # a click, not a box: the view's, if it takes clicks
            click = getattr(self.screen.view, "click", None)
            if click:
                click(*corners[0])
            return
        centre = ((corners[0][0] + corners[1][0]) / 2, (corners[0][1] + corners[1][1]) / 2)
        for ax in fig.axes:
            if ax.get_visible() and ax.get_window_extent().contains(*centre):
                (a, b), (c, d) = ax.transData.inverted().transform(corners)
                if abs(a - c) > 1e-12 and abs(b - d) > 1e-12:
                    ax.set_xlim(min(a, c), max(a, c))
                    ax.set_ylim(*((max(b, d), min(b, d)) if ax.yaxis_inverted() else (min(b, d), max(b, d))))
                return

    def reset_zoom(self):
        if self.screen is not None:
            self.screen.view.reset_zoom()

    def run(self, linger=False):
        """Train in a worker thread and tick here until the training ends (linger: and then until Q or
        Ctrl-C: the page stays up); the last state is drawn before it returns."""
        worker = self.start_training()
        try:
            if self.screen is not None:
                self.first_data()
                self.frame()
            self.started()
            while not (self.finished and (self.quit or not linger)):
                self.tick(linger)
                self.woken.wait(self.wait())
                self.woken.clear()
        except KeyboardInterrupt as e:
            self.loop.interrupted(e)
        finally:
            self.loop.stop.set()
            self.loop.running.set()
            self.loop.proceed.set()
            worker.join()
            if self.screen is not None and (self.vis.published is not self.drawn or not self.finished):
                self.finished = True
                self.frame()
            self.finished = True
            self.close_log()
            with self.changed:
                self.closing = True
                self.changed.notify_all()
