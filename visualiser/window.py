"""The live window: the GUI on the main thread (Tk, like Cocoa, must not be touched from another), the
training loop in a worker thread, a redraw only when the data moved and within DRAW_BUDGET of the time.
"""
import os
import signal
import sys
import threading
import time

from . import files, panels, startup

DRAW_BUDGET = 0.10        # redraw only as often as keeps drawing under 10% of one core (a frame costs ~150 ms of
                          # CPU: a redraw every ~1.5 s, about 5% of a 2-core machine)
MIN_REDRAW_S = 0.25       # and at most 4 times a second
NO_WINDOW_BACKENDS = ("agg", "pdf", "ps", "svg", "cairo", "template", "pgf")


def no_window_reason():
    """Why no window can open here (a short phrase), or None when one can."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display ($DISPLAY is not set)"
    chosen = os.environ.get("MPLBACKEND") or matplotlib.rcParams._get_backend_or_none()
    import matplotlib.pyplot as plt
    backend = plt.get_backend().lower()
    if backend in NO_WINDOW_BACKENDS or "inline" in backend:
        if chosen:
            where = "$MPLBACKEND" if os.environ.get("MPLBACKEND") else "your matplotlibrc"
            return (f"matplotlib's backend is {backend!r} (set by {where}), which opens no window; unset it, "
                    "or choose a GUI one such as TkAgg, for the window")
        try:
            import tkinter  # noqa: F401
        except ImportError:
            return "matplotlib has no GUI toolkit for a window (Debian/Ubuntu: apt install python3-tk)"
        return (f"matplotlib found no GUI backend that can open a window on the display "
                f"{os.environ.get('DISPLAY', '')!r} and fell back to {backend!r}")
    return None


class Window(files.GuiFrames):
    """Every 50 ms tick() serves a movie frame if the loop waits for one and redraws if the data moved,
    within the draw budget; the keys change the layout, pause, zoom, save."""

    def __init__(self, vis, loop):
        import matplotlib.pyplot as plt
        self.vis, self.loop, self.plt = vis, loop, plt
        self.budget, self.min_wait = DRAW_BUDGET, MIN_REDRAW_S
        self.fig = plt.figure(figsize=panels.FIGSIZE, dpi=panels.DPI)
        self.panels = panels.Panels(self.fig, vis)
        canvas = self.fig.canvas
        canvas.manager.set_window_title(f"{vis.title}: TensorFlow and deep learning, without a PhD")
        # matplotlib's default keys (s save dialog, l/k log scales, g grid, ...) would fire on top of ours.
        canvas.mpl_disconnect(canvas.manager.key_press_handler_id)
        canvas.mpl_connect("key_press_event", self.on_key)
        canvas.mpl_connect("close_event", lambda event: self.stop())
        canvas.mpl_connect("draw_event", lambda event: startup.mark("drawn"))
        self.drawn, self.next_draw, self.draw_seconds, self.draws = -1, 0.0, 0.0, 0
        self.message, self.finished = "", False
        self.take_movie(loop)
        startup.mark("window")

    def run(self):
        """Our own event loop: 50 ms of GUI events, then tick(), until the window closes. Not plt.show():
        Ctrl-C must reach us even while Tk sits in its loop (an exception raised inside a Tk callback is only
        printed), so SIGINT and SIGTERM just note themselves for the next slice to read."""
        worker = threading.Thread(target=self.loop.run, name="training", daemon=True)
        worker.start()
        signals = []
        on_main = threading.current_thread() is threading.main_thread()
        note = lambda signum, frame: signals.append(signum)  # noqa: E731
        previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
        try:
            self.plt.show(block=False)
            while self.plt.fignum_exists(self.fig.number) and not signals:
                self.fig.canvas.start_event_loop(0.05)
                self.tick()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if signals:
                name = "Ctrl-C" if signals[0] == signal.SIGINT else signal.Signals(signals[0]).name
                self.loop.interrupted(name)
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
        if key in panels.LAYOUTS:
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
            try:
                files.save_png(self.vis, path)
                self.message = f"saved {path}"
                print(f"saved the panels to {path}", flush=True)
            except OSError as e:
                self.message = f"could not save {path} ({e.strerror or e})"
                print(self.message, flush=True)
        elif key in ("q", "ctrl+w"):
            self.plt.close(self.fig)
            return
        else:
            return
        self.redraw()
