"""The live window: the display core (visualiser.display) on a Tk figure. The GUI runs on the main thread (Tk,
like Cocoa, must not be touched from another), the training in a worker; a frame's changed regions are
blitted to the screen, and a key is applied and drawn at once.
"""
import os
import signal
import sys
import threading
import time

from . import display, files, panels, startup

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


def steady_pixel_ratio(canvas):
    """matplotlib's Tk canvas on Linux takes the screen's pixels per inch over 96 as its pixel ratio, so a screen
    that says 96.1 (Xvfb's -dpi 96, a monitor's size rounded to millimetres) makes the figure 0.1% larger than
    its window and Tk sizes it twice as it is shown: three full draws (0.3 s of CPU each) for one picture.
    The ratio rounded to two digits, as matplotlib does on Windows, shows it in one."""
    tk_canvas = getattr(canvas, "_tkcanvas", None)
    if tk_canvas is None or not sys.platform.startswith("linux"):
        return

    def on_map(event=None):
        if canvas._set_device_pixel_ratio(round(tk_canvas.winfo_fpixels("1i") / 96, 2)):
            w, h = canvas.get_width_height(physical=True)
            tk_canvas.configure(width=w, height=h)
            canvas._resize_figure_for_canvas_size(tk_canvas.winfo_width(), tk_canvas.winfo_height())
    tk_canvas.bind("<Map>", on_map)       # replaces matplotlib's own binding, which does the same unrounded


def run(vis, loop, movie=None):
    """A run in a window. The training starts first: its first step (mostly Grappler and the kernels, in
    TensorFlow's threads, without the GIL) runs while this thread makes the figure (~0.25 s of Python), instead
    of after it. Not under --view inside, whose view must be on the screen when step 0 ends, to look at it."""
    worker = None
    if getattr(vis, "first_view", "0") == "0":
        worker = display.start_training(vis, loop, screen=True)
    try:
        window = Window(vis, loop, movie)
    except BaseException:              # Ctrl-C, or a figure Tk could not make: the training stops too
        if worker:
            loop.stop.set()
            loop.proceed.set()
            worker.join()
        raise
    window.run(worker)


class Window(display.Display):
    """The core's frames in a matplotlib window, with its keys: the core's, plus O (the toolbar's box zoom),
    Ctrl-S (the window's picture as a PNG) and Q (close)."""

    def __init__(self, vis, loop, movie=None, views=None):
        import matplotlib.pyplot as plt
        self.plt = plt
        self.fig = plt.figure(figsize=panels.FIGSIZE, dpi=panels.DPI)
        super().__init__(vis, loop, display.Screen(self.fig, vis, views), "window", movie)
        canvas = self.fig.canvas
        steady_pixel_ratio(canvas)
        canvas.manager.set_window_title(f"{vis.title}: TensorFlow and deep learning, without a PhD")
        # matplotlib's default keys (s save dialog, l/k log scales, g grid, ...) would fire on top of ours.
        canvas.mpl_disconnect(canvas.manager.key_press_handler_id)
        canvas.mpl_connect("key_press_event", self.on_key)
        canvas.mpl_connect("close_event", lambda event: self.stop())
        canvas.mpl_connect("button_release_event", self.on_click)
        canvas.mpl_connect("draw_event", self.on_full_draw)
        self.put = self.blit
        startup.mark("window")

    def on_full_draw(self, event):
        """Every render of the whole figure, ours or Tk's (shown, resized, the toolbar's zoom, a layout rendered off
        screen): in the frame log as the target "tk" (Tk's own are not frames: their CPU counts in the budget as
        the window's events)."""
        startup.mark("drawn")
        layout = self.screen.canvas.prerendering
        self.log.write(target="tk", kind="prerender" if layout else "full", layout=layout,
                       size=list(self.fig.canvas.get_width_height()))

    def blit(self, kind, boxes):
        """Put the frame's boxes on screen; when they cover most of the figure, the whole figure in one copy
        (~3 ms at 1280 x 720: Tk composites a box's pixels one by one, but sets a whole picture at once)."""
        if kind == "full":                 # on screen already: FigureCanvasTkAgg.draw blits it
            return
        if sum(box.width * box.height for box in boxes) > 0.4 * self.fig.bbox.width * self.fig.bbox.height:
            boxes = [None]
        for box in boxes:
            self.fig.canvas.blit(box)

    def run(self, worker=None):
        """Our own event loop: GUI events until the next frame is due (50 ms at most), then tick(), until the
        window closes; `worker`: the training started already (run()). Not plt.show(): Ctrl-C must reach us
        even while Tk sits in its loop (an exception raised inside a Tk callback is only printed), so SIGINT
        and SIGTERM just note themselves."""
        worker = worker or self.start_training()
        signals = []
        on_main = threading.current_thread() is threading.main_thread()
        note = lambda signum, frame: signals.append(signum)  # noqa: E731
        previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
        try:
            self.first_data()
            self.show(signals)
            while self.plt.fignum_exists(self.fig.number) and not signals:
                cpu = time.thread_time()
                self.fig.canvas.start_event_loop(self.wait())
                # Tk's own work (putting the blitted pixels on the X display, events) counts in the budget
                self.pacer.spent(time.monotonic(), time.thread_time() - cpu, paced=False)
                if not self.plt.fignum_exists(self.fig.number):
                    break                  # closed by Q or its close button during those events: nothing to draw
                self.tick()
                if self.finished and self.loop.error is not None:
                    self.plt.close(self.fig)
        finally:
            self.loop.proceed.set()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if signals:
                name = "Ctrl-C" if signals[0] == signal.SIGINT else signal.Signals(signals[0]).name
                self.loop.interrupted(name)
            self.stop()
            worker.join()
            self.plt.close(self.fig)
            self.close_log()

    def show(self, signals, wait_s=3.0):
        """Show the window and let Tk draw its first picture (the whole figure: ~0.3 s of CPU, the window's
        start-up) while the training waits after its first step (runloop.Loop.proceed): that picture shows the
        first figures, and the frames of the training are blits from then on."""
        self.plt.show(block=False)
        end = time.monotonic() + wait_s
        while (self.screen.canvas.key is None and not signals and time.monotonic() < end
               and self.plt.fignum_exists(self.fig.number)):
            self.fig.canvas.start_event_loop(0.01)
        self.drawn = self.vis.published
        self.started()

    def finished_line(self, linger):
        self.message += "; close the window to end"
        print(f"training finished; {self.message}", flush=True)

    def stop(self):
        self.loop.stop.set()
        self.loop.running.set()

    def on_key(self, event):
        at = time.monotonic()
        key, toolbar = event.key, self.fig.canvas.toolbar
        if key in ("o", "O") and toolbar is not None:
            toolbar.zoom()
            return
        if key in ("h", "H") and toolbar is not None:
            toolbar.home()
        elif key == "ctrl+s":
            self.save()
        elif key in ("q", "ctrl+w"):
            self.plt.close(self.fig)
            return
        key = key.lower() if key in ("H", "Q", "I", "N", "B") else key
        if self.apply(key) or key == "ctrl+s":
            self.key_at = (key, at)
            self.key_frame()

    def on_click(self, event):
        """A click (not the toolbar's box zoom or pan): as the page's, applied by the view shown."""
        toolbar = self.fig.canvas.toolbar
        if event.button != 1 or event.x is None or (toolbar is not None and toolbar.mode):
            return
        w, h = self.fig.canvas.get_width_height()
        point = (event.x / w, 1 - event.y / h)
        self.apply(("zoom", *point, *point))
        self.key_frame()

    def save(self):
        """Ctrl-S: what the window shows, as a PNG in the current folder."""
        path = os.path.abspath(f"{self.vis.title}-{self.vis.iteration}.png")
        if self.screen.canvas.key is None:         # nothing drawn yet
            self.frame()
        try:
            files.write_png(self.screen.rgb(), path)
            self.message = f"saved {path}"
            print(f"saved the panels to {path}", flush=True)
        except OSError as e:
            self.message = f"could not save {path} ({e.strerror or e})"
            print(self.message, flush=True)
