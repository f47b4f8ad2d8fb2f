"""The live window (`--display window`, and `auto` when a screen is there).

Threads: the GUI lives on the main thread only (Tk, like macOS's Cocoa, must not be touched from another);
the training runs in a worker thread and only folds events into a DashboardState (O(1) per event). A Tk
timer on the main thread redraws at most `--refresh-fps` times a second, and only when the state moved.
Closing the window asks the loop to stop (Control.stop: it checkpoints, so `--resume` continues).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from ..session import Display
from .state import DashboardState

DEFAULT_FPS = 4.0  # redraws per second at most; each full redraw costs ~50-150 ms of CPU on a laptop core
# Share of one core the redraws may take while training runs: after a redraw that took t seconds the next
# waits at least t / DRAW_BUDGET (Agg drawing holds the GIL, so it slows the training thread about as much).
DRAW_BUDGET = 0.05
OUR_KEYS = set("0123456789") | {"escape", " ", "o", "O", "h", "H", "ctrl+s", "?", "f1"}
# matplotlib's default keys still passed through on the dashboard figure; every other default binding
# (l/k log scales, g grids, s/r/c/v and the arrows) is unbound on this figure only, since it would break
# the panels or clash with ours (o, h and ctrl+s do what the course's keys do, with our own handling).
PASS_THROUGH = {"f", "ctrl+f", "q", "ctrl+w", "p"}


class StateSink:
    """Folds the stream into a DashboardState; runs on the training thread."""

    def __init__(self, state: DashboardState):
        self.state = state

    def emit(self, event) -> None:
        self.state.update(event)

    def close(self) -> None:
        pass


def display_problem() -> str | None:
    """Why no window can open here, or None when one can. Must run on the main thread."""
    if not matplotlib_installed():
        return "matplotlib is not installed (pip install 'mnistlab[dashboard]')"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display is available ($DISPLAY is not set)"
    try:
        import tkinter
    except ImportError:
        return "Python's tkinter is missing (on Debian/Ubuntu: apt install python3-tk)"
    try:
        root = tkinter.Tk()
        root.withdraw()
        root.destroy()
    except tkinter.TclError as e:
        return f"cannot open the display {os.environ.get('DISPLAY', '')!r} ({e})"
    return None


def no_window_message(problem: str) -> str:
    return (f"--display window needs a screen, but {problem}. On a headless machine use --display text "
            "(or none) and save the dashboard with --save-png dash.png or --save-video train.mp4")


def matplotlib_installed() -> bool:
    from ..session import module_exists
    return module_exists("matplotlib")


class KeyController:
    """The course's keys on any canvas (the Tk window, or an Agg canvas in tests)."""

    def __init__(self, dash, control=None, save=None, redraw=None):
        self.dash, self.control, self.save, self.redraw = dash, control, save, redraw
        self.message = ""

    def connect(self, canvas) -> None:
        manager = getattr(canvas, "manager", None)
        if manager is not None and getattr(manager, "key_press_handler_id", None) is not None:
            canvas.mpl_disconnect(manager.key_press_handler_id)  # the default keymap, on this figure only
            manager.key_press_handler_id = None
        canvas.mpl_connect("key_press_event", self.on_key)

    def on_key(self, event) -> None:
        key = event.key or ""
        if key in OUR_KEYS:
            self.handle(key, event.canvas)
        elif key in PASS_THROUGH:
            from matplotlib.backend_bases import key_press_handler
            key_press_handler(event, event.canvas, getattr(event.canvas, "toolbar", None))

    def handle(self, key: str, canvas=None) -> None:
        if key in "123456789" and len(key) == 1:
            self.dash.set_layout(key)
        elif key in ("0", "escape"):
            self.dash.set_layout("all")
        elif key == " " and self.control is not None:
            self.control.toggle_pause()
            self.message = "PAUSED (SPACE resumes)" if self.control.paused else ""
        elif key in ("o", "O"):
            toolbar = getattr(canvas, "toolbar", None)
            if toolbar is not None:
                toolbar.zoom()  # box zoom mode on/off; the panels stop autoscaling once zoomed
        elif key in ("h", "H"):
            self.dash.reset_zoom()  # the next draw autoscales again
        elif key == "ctrl+s" and self.save is not None:
            self.message = f"saved {self.save()}"
        elif key in ("?", "f1"):
            self.dash.toggle_help()
        if self.redraw is not None:
            self.redraw(force=True)


class Window:
    """A dashboard window fed by `state`; `run()` blocks on the main thread until the window closes."""

    def __init__(self, state: DashboardState, control=None, run=None, fps: float = DEFAULT_FPS,
                 close_at_end: bool = False, poll=None):
        self.state, self.control, self.run_dir, self.poll = state, control, run, poll
        self.interval_ms = int(1000 / max(0.2, min(float(fps or DEFAULT_FPS), 10.0)))  # <= 10 fps
        self.close_at_end = close_at_end
        self.drawn_version = -1
        self.redraws = 0
        self.draw_failed = False
        self.next_draw_at = 0.0
        self.training = False             # redraws are paced by DRAW_BUDGET only while training runs
        self.interrupted = False          # Ctrl-C in the terminal: handled like closing the window
        self.sigint_installed = False
        self.said_done = False

    def _open(self):
        if getattr(self, "fig", None) is not None:
            return
        import matplotlib
        matplotlib.use("TkAgg", force=True)
        import matplotlib.pyplot as plt
        from .render import DPI, SIZE, Dashboard
        self.plt = plt
        self.fig = plt.figure(figsize=(SIZE[0] / DPI, SIZE[1] / DPI), dpi=DPI)
        self.fig.canvas.manager.set_window_title("mnistlab dashboard (? for help)")
        self.dash = Dashboard(self.fig)
        self.keys = KeyController(self.dash, self.control, self.save_png, self.redraw)
        self.keys.connect(self.fig.canvas)

    def save_png(self) -> str:
        from ..runs import write_bytes_atomic
        name = f"dashboard-{self.state.step}.png"
        data = self.dash.png()
        path = self.run_dir.write_file(name, data) if self.run_dir is not None else write_bytes_atomic(name, data)
        print(f"dashboard saved: {path}", file=sys.stderr)
        return str(path)

    def redraw(self, force: bool = False) -> None:
        if self.poll is not None and (new := self.poll()) is not None:  # `show` following a live run
            new.version = self.state.version + 1
            self.state = new
        if not force and (self.state.version == self.drawn_version or time.perf_counter() < self.next_draw_at):
            return
        t = time.perf_counter()
        self.drawn_version = self.state.version
        self.dash.draw(self.state.snapshot())
        if self.keys.message:
            self.dash.status.set_text(self.dash.status.get_text() + "   " + self.keys.message)
        self.fig.canvas.draw()  # now, not at idle: its cost is measured to pace the next one
        self.redraws += 1
        spent = time.perf_counter() - t
        self.next_draw_at = t + spent / DRAW_BUDGET if self.training else 0.0

    def run(self, train=None):
        """Run `train` (or nothing: a replay) in a worker thread while the window shows the state.
        Returns train's result; re-raises its exception once the window is closed."""
        self._open()
        outcome: dict = {}

        def work():
            try:
                outcome["result"] = train()
            except BaseException as e:  # noqa: BLE001  (handed to the main thread)
                outcome["error"] = e

        worker = threading.Thread(target=work, name="mnistlab-training", daemon=True) if train else None
        timer = self.fig.canvas.new_timer(interval=self.interval_ms)

        def on_sigint(signum, frame):
            self.interrupted = True  # acted on by the next tick: a Tk callback would swallow KeyboardInterrupt

        def tick():
            if not self.sigint_installed and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, on_sigint)  # inside the main loop: after plt.show() set its own
                self.sigint_installed = True
            self.training = worker is not None and worker.is_alive() and not (self.control and self.control.paused)
            if self.interrupted:
                if self.control is not None:
                    self.control.stop()
                self.plt.close(self.fig)
                return
            try:
                self.redraw()
            except Exception:  # noqa: BLE001  a drawing bug must not freeze the window or the training
                if not self.draw_failed:
                    import traceback
                    traceback.print_exc()
                self.draw_failed = True
            if worker is not None and not worker.is_alive() and not self.said_done and not self.close_at_end:
                self.said_done = True
                print(f"training {self.state.status}; close the dashboard window to exit", file=sys.stderr)
            if worker is not None and not worker.is_alive() and self.close_at_end:
                self.redraw(force=True)
                self.fig.canvas.draw()  # the final state is on screen before the window goes
                self.plt.close(self.fig)

        timer.add_callback(tick)
        if worker is not None:
            worker.start()
        timer.start()
        try:
            self.plt.show()  # the Tk main loop, until the window is closed
        except KeyboardInterrupt:
            pass  # Ctrl-C before the first tick: the same
        finally:
            if self.sigint_installed:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            timer.stop()
            if worker is not None:
                if self.control is not None:
                    self.control.stop()  # window closed (or Ctrl-C) during training: stop + checkpoint
                worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")


class WindowDisplay(Display):
    def __init__(self, state, run, options, console=True):
        from ..console import ConsoleSink
        super().__init__([StateSink(state)] + ([ConsoleSink()] if console else []))
        self.state, self.run_dir, self.options = state, run, options

    def run(self, train, control):
        window = Window(self.state, control, self.run_dir, fps=self.options.get("refresh_fps") or DEFAULT_FPS,
                        close_at_end=bool(self.options.get("close_at_end")))
        return window.run(train)


def window_display(recipe=None, data=None, run=None, control=None, options=None, **_) -> Display:
    problem = display_problem()
    if problem:
        raise ValueError(no_window_message(problem))
    return WindowDisplay(DashboardState(data), run, options or {})


def auto_display(recipe=None, data=None, run=None, control=None, options=None, **_) -> Display:
    """The window when a screen is usable; otherwise the text display plus the final dashboard PNG saved
    in the run dir."""
    if display_problem() is None:
        return WindowDisplay(DashboardState(data), run, options or {})
    from ..console import ConsoleSink
    if not matplotlib_installed():
        return Display([ConsoleSink()])  # the text display; the dashboard extra is not installed
    from .export import FinalPngSink
    return Display([ConsoleSink(), FinalPngSink(data, run)])
