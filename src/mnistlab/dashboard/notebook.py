"""`display="notebook"`: the dashboard updating live in a Jupyter cell's output.

    import mnistlab
    result = mnistlab.train("3.1", display="notebook", iterations=2000)

Like the window: the training runs in a worker thread and only folds events; the cell's own (main) thread
renders a PNG at most `refresh_fps` times a second when the state moved, and replaces the cell's image
through an IPython display handle. Interrupting the kernel stops the training at the next step (checkpoint).
"""
from __future__ import annotations

import threading

from ..session import Display
from .live import StateSink
from .state import DashboardState

NOTEBOOK_FPS = 1.0  # a PNG per second is smooth enough in a notebook and keeps the kernel's output small


class NotebookDisplay(Display):
    def __init__(self, state: DashboardState, options: dict, show=None):
        super().__init__([StateSink(state)])
        self.state, self.options = state, options
        self.show = show or _ipython_show()  # show(png_bytes): create or replace the cell's image
        self.frames = 0

    def _render(self):
        from .render import Dashboard, new_figure
        if not hasattr(self, "dash"):
            self.dash = Dashboard(new_figure())
        self.dash.set_layout(self.options.get("layout", "all"))
        self.dash.draw(self.state.snapshot())
        self.show(self.dash.png())
        self.frames += 1

    def run(self, train, control):
        outcome: dict = {}

        def work():
            try:
                outcome["result"] = train()
            except BaseException as e:  # noqa: BLE001  (re-raised on the cell's thread)
                outcome["error"] = e

        worker = threading.Thread(target=work, name="mnistlab-training", daemon=True)
        worker.start()
        period = 1.0 / max(0.1, min(float(self.options.get("refresh_fps") or NOTEBOOK_FPS), 10.0))
        drawn = -1
        try:
            while worker.is_alive():
                worker.join(period)
                if self.state.version != drawn:
                    drawn = self.state.version
                    self._render()
        except KeyboardInterrupt:  # the kernel's interrupt button
            control.stop()
            worker.join()
        self._render()  # the final state
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")


def _ipython_show():
    handle = {}

    def show(png: bytes):
        from IPython.display import Image, display
        if handle.get("h") is None:
            handle["h"] = display(Image(data=png, format="png"), display_id=True)
        else:
            handle["h"].update(Image(data=png, format="png"))
    return show


def notebook_display(recipe=None, data=None, run=None, control=None, options=None, **_) -> Display:
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is None:
        raise ValueError("display='notebook' works inside Jupyter (an IPython kernel); "
                         "elsewhere use display='window', 'text' or save_png")
    return NotebookDisplay(DashboardState(data), options or {})

