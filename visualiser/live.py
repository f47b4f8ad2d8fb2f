"""The renderer behind the browser page and the notebook: the training in a worker thread, the panels drawn
here, on the main thread, into PNG frames.

The same Panels as the window's, in one Agg figure, with the same keys and the same pacing: a frame is drawn
only when the data moved, someone watches, and drawing stays within the window's draw budget; a key
redraws at once. Keys come from other threads through press() and are applied here, since a
matplotlib figure must not be touched from two threads. Movie frames are drawn here too, as in the window.
"""
import io
import math
import queue
import threading
import time

import numpy as np

from . import files, panels, window

WATCHED_S = 15            # a page that has not asked for a frame for this long is gone: stop drawing for it


class Live(files.GuiFrames):
    """The training in a worker thread; this thread applies the keys and renders PNG frames of the panels
    for whoever watches (on_frame for the notebook; the pages through the Server). run() returns when the
    training ends (linger=False) or, after it, on Q or Ctrl-C (linger=True, the web page stays up)."""

    def __init__(self, vis, loop, min_wait=None, always_watched=False):
        self.vis, self.loop, self.always_watched = vis, loop, always_watched
        self.budget, self.min_wait = window.DRAW_BUDGET, min_wait or window.MIN_REDRAW_S
        self.panels = panels.agg_figure(vis)
        self.keys, self.woken = queue.Queue(), threading.Event()
        self.changed = threading.Condition()      # notified at every new frame and when closing
        self.png, self.frames, self.state = None, 0, {"frame": 0}   # frames: how many drawn
        self.drawn, self.next_draw, self.draw_seconds, self.draws = -1, 0.0, 0.0, 0
        self.watched_until = 0.0
        self.message, self.finished, self.quit, self.closing = "", False, False, False
        self.failures, self.failure_said = 0, False   # renders that raised in a row; said once in the output
        self.on_frame = None
        self.take_movie(loop)           # movie frames are rendered on this thread too, while the loop waits

    def watch(self):                    # a page asked for a frame
        self.watched_until = time.monotonic() + WATCHED_S

    def run(self, linger=False):
        worker = threading.Thread(target=self.loop.run, name="training", daemon=True)
        worker.start()
        try:
            while not (self.finished and (self.quit or not linger)):
                self.tick(linger)
                self.woken.wait(0.05)   # at once for a key, else every 50 ms
                self.woken.clear()
        except KeyboardInterrupt as e:
            self.loop.interrupted(e)
        finally:
            self.loop.stop.set()
            self.loop.running.set()
            worker.join()
            if self.drawn != self.vis.version or not self.finished:
                self.finished = True
                self.render()
            with self.changed:
                self.closing = True
                self.changed.notify_all()

    def press(self, key):               # from any thread: applied by this one
        self.keys.put(key)
        self.woken.set()

    def tick(self, linger=False):
        redraw = False
        while not self.keys.empty():
            redraw = self.apply(self.keys.get()) or redraw
        self.serve_frame()
        if self.loop.done.is_set() and not self.finished:
            self.finished = redraw = True
            self.quit = self.quit or self.loop.error is not None     # an error: no lingering, animate raises it
            if self.loop.error is None:
                self.message = f"finished: max test accuracy {self.vis.get_max_test_accuracy():.2%}"
                if linger and not self.quit:
                    print(f"training {self.message}; the page stays up until Ctrl-C (or Q in the page)", flush=True)
        watched = self.always_watched or time.monotonic() < self.watched_until
        if redraw or (watched and self.drawn != self.vis.version and time.perf_counter() >= self.next_draw):
            self.render()
            self.next_draw = time.perf_counter() + max(self.min_wait,
                                                       self.draw_seconds / max(self.draws, 1) / self.budget)

    def apply(self, key):
        """One key of the window's, or a box zoom: ("zoom", x0, y0, x1, y1) in fractions of the image."""
        running = self.loop.running
        if isinstance(key, tuple):
            self.zoom(*key[1:])
        elif key in panels.LAYOUTS:
            self.panels.set_layout("0" if key == "escape" else key)
        elif key == " ":
            (running.clear if running.is_set() else running.set)()
        elif key == "h":
            self.panels.reset_zoom()
            for n, image in self.panels.images.items():      # the digit panels: back to the whole image
                left, right, bottom, top = image.get_extent()
                self.panels.ax[n].set_xlim(left, right)
                self.panels.ax[n].set_ylim(bottom, top)
        elif key == "q":
            self.quit = True
            self.loop.stop.set()
            running.set()
        return True

    def zoom(self, x0, y0, x1, y1):
        """The box the user drew on the image, applied to the visible panel under its centre, as the window's
        O does; Panels keeps a zoom until H."""
        w, h = self.panels.fig.canvas.get_width_height()
        corners = np.array([[x0 * w, (1 - y0) * h], [x1 * w, (1 - y1) * h]])   # display pixels, origin bottom
        centre = corners.mean(0)
        for ax in self.panels.ax.values():
            if ax.get_visible() and ax.get_window_extent().contains(*centre):
                (a, b), (c, d) = ax.transData.inverted().transform(corners)
                if abs(a - c) > 1e-12 and abs(b - d) > 1e-12:
                    ax.set_xlim(min(a, c), max(a, c))
                    ax.set_ylim(*((max(b, d), min(b, d)) if ax.yaxis_inverted() else (min(b, d), max(b, d))))
                return

    def render(self):
        from PIL import Image
        start = time.perf_counter()
        v, tests = self.vis, list(self.vis.test[1])
        self.drawn = v.version
        paused = "" if self.loop.running.is_set() or self.finished else "PAUSED (SPACE resumes)"
        seen = [a for a in tests if math.isfinite(a)]      # the page's JSON has no NaN: a diverged run's is null
        state = {"title": v.title, "iteration": v.iteration, "layout": self.panels.layout, "paused": bool(paused),
                 "finished": self.finished, "message": self.message, "tests": len(tests),
                 "first_test": v.test[0][0] if tests else None,
                 "test_accuracy": tests[-1] if tests and math.isfinite(tests[-1]) else None,
                 "max_accuracy": max(seen, default=None)}
        try:
            self.panels.draw(" ".join(filter(None, (paused, self.message))))
            canvas = self.panels.fig.canvas
            canvas.draw()
        except ValueError as e:
            # a curve read while the training appended to it: the next tick redraws. Twice in a row is no
            # such race: one line says so (a silent failure would freeze the page), and the training goes on.
            self.drawn, self.failures = -1, self.failures + 1
            self.draw_seconds += time.perf_counter() - start      # a failed draw counts against the budget too
            self.draws += 1
            if self.failures >= 2 and not self.failure_said:
                self.failure_said = True
                print(f"tensorflowvisu: the panels could not be drawn at iteration {v.iteration} "
                      f"({type(e).__name__}: {e}); the training goes on", flush=True)
            return
        self.failures = 0
        out = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(out, "PNG", compress_level=1)
        with self.changed:
            self.png, self.frames = out.getvalue(), self.frames + 1
            self.state = dict(state, frame=self.frames)
            self.changed.notify_all()
        self.draw_seconds += time.perf_counter() - start
        self.draws += 1
        if self.on_frame:
            self.on_frame(self.png)
