"""`mnistlab train ... --display web`: the live six-panel dashboard in a browser.

The server keeps a DashboardState fed by the training's events (a sink) and draws it with the dashboard's
own panels (mnistlab.dashboard.render), so the page shows exactly what the window and the PNG export show.

    GET  /             the page (static HTML/JS: an <img> and the keys of the window)
    GET  /events       server-sent events: {"step", "iterations", "status", "paused", "version"} on change
    GET  /frame.png    ?layout=all|1..9&help=0|1: the dashboard as PNG (header X-Dashboard-Version: the state
                       it shows), redrawn only when a client asks for it and the state moved, at most
                       4 frames/s and at most ~1/3 of the time
    POST /control      {"action": "pause" | "resume" | "toggle"}: SPACE on the page (loop.Control)

The dashboard's --refresh-fps caps the frame rate (default 4) and --close-at-end stops the server when
training ends; otherwise an interactive run keeps the final dashboard up until Ctrl-C.

All URLs are relative and the server binds 127.0.0.1 by default, so from another machine:
`ssh -L 8008:127.0.0.1:8008 host`, then open http://127.0.0.1:8008/ locally.
"""
# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations (Request) at run time,
# and they are imported inside create_live_app so that choosing another display never imports the web stack.
import asyncio
import json
import sys
import threading
import time

from ..session import Display

MAX_FPS = 4
RENDER_SHARE = 1 / 3  # after a render of t seconds, wait >= 2t: training keeps at least 2/3 of a core
EVENT_PERIOD = 0.25   # seconds between checks for a new state to announce


class RenderError(Exception):
    """The panels raised while drawing; the page shows the message and tries again."""


class LiveBoard:
    """The dashboard state of one training, and its rendered frames. A Sink (emit/close) on the training
    thread; `frame()` and `status()` are called from the web server's threads."""

    def __init__(self, state, control, max_fps: float = MAX_FPS):
        self.state, self.control, self.max_fps = state, control, max_fps
        self.render_error: str | None = None
        self._lock = threading.Lock()  # one render at a time: the figure is shared by all layouts
        self._dash = None
        self._frames: dict = {}  # (layout, help) -> (state version, png)
        self._next_render = 0.0
        self.closed = threading.Event()

    def emit(self, event) -> None:
        self.state.update(event)  # O(1) under the state's lock

    def close(self) -> None:
        pass  # the page keeps showing the final state while the server runs

    def status(self) -> dict:
        s = self.state
        with s.lock:
            return {"step": s.step, "iterations": s.iterations, "status": s.status, "version": s.version,
                    "paused": self.control.paused and s.status == "running", "title": s.title,
                    "max_test_accuracy": max(s.test["accuracy"], default=None)}

    def frame(self, layout="all", help=False) -> tuple[int, bytes]:
        """PNG of the dashboard as it is now (the cached one if nothing changed). Clients ask for one frame
        at a time, so a frame is drawn only while someone watches, and no faster than the limits."""
        from ..dashboard.render import Dashboard, new_figure
        with self._lock:
            key = (layout, help)
            cached = self._frames.get(key)
            if cached and cached[0] == self.state.version:
                return cached
            time.sleep(max(0.0, self._next_render - time.monotonic()))  # the rate limit: this client waits
            if self._dash is None:
                self._dash = Dashboard(new_figure())
            t = time.monotonic()
            version = self.state.version  # read before the snapshot: a newer state only means one more redraw
            try:
                self._dash.set_layout(layout)
                self._dash.help.set_visible(help)
                self._dash.draw(self.state.snapshot())
                png = self._dash.png()
            except Exception as e:  # noqa: BLE001  (a drawing bug must not stop the training or the server)
                if self.render_error is None:
                    import traceback
                    traceback.print_exc()
                self.render_error = f"the dashboard could not be drawn: {type(e).__name__}: {e}"
                self._next_render = time.monotonic() + 1.0
                raise RenderError(self.render_error) from None
            now = time.monotonic()
            self._next_render = now + max(1 / self.max_fps, (now - t) * (1 / RENDER_SHARE - 1))
            self._frames[key] = (version, png)
            return version, png


def create_live_app(board: LiveBoard):
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse, Response, StreamingResponse

    from ..dashboard.render import Dashboard
    from .app import BadInput, add_error_handlers, add_static

    app = FastAPI(title="mnistlab live dashboard", docs_url=None, redoc_url=None)
    add_error_handlers(app)
    add_static(app, "live.html")

    @app.get("/events")
    async def events(request: Request):
        async def stream():
            last = None
            yield "retry: 1000\n\n"
            while not board.closed.is_set() and not await request.is_disconnected():
                status = board.status()
                if status != last:
                    yield f"data: {json.dumps(status)}\n\n"
                    last = status
                await asyncio.sleep(EVENT_PERIOD)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/frame.png")
    async def frame(layout: str = "all", help: bool = False):
        try:
            layout = Dashboard.layout_key(layout)
        except ValueError as e:
            raise BadInput(422, str(e)) from None
        try:
            version, png = await run_in_threadpool(board.frame, layout, help)
        except RenderError as e:
            return JSONResponse({"error": str(e)}, status_code=503, headers={"Retry-After": "1"})
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "no-store", "X-Dashboard-Version": str(version)})

    @app.get("/status")
    def status():
        return board.status()

    @app.post("/control")
    async def control(request: Request):
        try:
            action = json.loads(await request.body()).get("action")
        except (ValueError, AttributeError):
            action = None
        actions = {"pause": board.control.pause, "resume": board.control.resume,
                   "toggle": board.control.toggle_pause}
        if action not in actions:
            raise BadInput(422, 'expected {"action": "pause" | "resume" | "toggle"}')
        actions[action]()
        return JSONResponse(board.status())

    return app


class WebDisplay(Display):
    def __init__(self, board: LiveBoard, server, keep_open: bool = True):
        super().__init__([board])
        self.board, self.server, self.keep_open = board, server, keep_open

    def run(self, train, control):
        self.server.start()
        print(f"live dashboard: {self.server.url}  (keys 1..9 layouts, 0/ESC all, SPACE pause; "
              f"from another machine: ssh -L PORT:127.0.0.1:PORT this-host)", flush=True)
        result = None
        try:
            result = train()
            if self.keep_open and sys.stdin is not None and sys.stdin.isatty():  # interactive: keep the final dashboard up
                print(f"training {result.status}; the dashboard stays at {self.server.url} until Ctrl-C",
                      file=sys.stderr, flush=True)
                threading.Event().wait()
        except KeyboardInterrupt:
            if result is None:
                raise
        finally:
            self.board.closed.set()
            self.server.stop()
        return result


def web_display(recipe=None, data=None, run=None, control=None, options=None, **_) -> Display:
    """--display web: the DISPLAYS factory (session.py). Binds the port now, so a busy port is a usage
    error before training starts."""
    from .commands import DEFAULT_HOST, LIVE_PORT, need_web_stack
    need_web_stack("--display web")
    from ..dashboard.state import DashboardState
    from ..events import CheckpointSaved
    from .server import Background, listen
    options = options or {}
    sock = listen(options.get("host") or DEFAULT_HOST, LIVE_PORT if options.get("port") is None else options["port"])
    state = DashboardState(data)
    if run is not None:  # --resume: the curves so far, up to the checkpoint the loop continues from (it
        events, _ = run.events()  # drops and re-emits what was written after it)
        last = max((e.step for e in events if isinstance(e, CheckpointSaved)), default=0)
        for e in events:
            if getattr(e, "step", 0) <= last:
                state.update(e)
    fps = options.get("refresh_fps") or MAX_FPS
    if not 0 < fps <= 10:
        raise ValueError(f"--refresh-fps must be in (0, 10], got {fps}")
    board = LiveBoard(state, control, max_fps=fps)
    return WebDisplay(board, Background(create_live_app(board), sock), keep_open=not options.get("close_at_end"))
