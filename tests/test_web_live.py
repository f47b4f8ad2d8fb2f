"""The live dashboard's server (--display web) on its own: a LiveBoard over the state of a finished run,
served by a real uvicorn on a free port; frames, events, control and bad input."""
from __future__ import annotations

import json

import pytest

from web_helpers import trained_run

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from mnistlab.dashboard.state import DashboardState
    from mnistlab.loop import Control
    from mnistlab.web.live import LiveBoard, create_live_app
    from mnistlab.web.server import Background, listen
    state = DashboardState.from_run(trained_run(tmp_path_factory))
    board = LiveBoard(state, Control())
    server = Background(create_live_app(board), listen("127.0.0.1", 0)).start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield board, client
    board.closed.set()
    server.stop()


def test_frames_by_layout(live):
    board, client = live
    r = client.get("/frame.png")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert int(r.headers["X-Dashboard-Version"]) == board.state.version
    again = client.get("/frame.png")  # nothing changed: the cached frame, not a redraw
    assert again.content == r.content
    curves = client.get("/frame.png", params={"layout": "8"})
    assert curves.status_code == 200 and curves.content != r.content
    assert client.get("/frame.png", params={"layout": "0"}).content == r.content  # 0 is "all", as in the window
    assert client.get("/frame.png", params={"help": "1"}).content != r.content
    for bad in ({"layout": "12"}, {"layout": "../x"}, {"help": "maybe"}):
        r = client.get("/frame.png", params=bad)
        assert r.status_code == 422 and "error" in r.json(), bad


def test_status_events_and_control(live):
    board, client = live
    s = client.get("/status").json()
    assert s["step"] == 300 and s["status"] == "completed" and s["title"].startswith("3.0 conv")
    with client.stream("GET", "/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
    assert json.loads(first[6:])["step"] == 300
    assert client.post("/control", json={"action": "pause"}).status_code == 200 and board.control.paused
    client.post("/control", json={"action": "toggle"})
    assert not board.control.paused
    for bad in (b'{"action": "explode"}', b"not json", b"[]"):
        r = client.post("/control", content=bad)
        assert r.status_code == 422 and "pause" in r.json()["error"]
    page = client.get("/")
    assert 'src="static/live.js"' in page.text and "EventSource" in client.get("/static/live.js").text


def test_a_panel_that_fails_to_draw_is_a_503_not_a_dead_server(live, monkeypatch):
    board, client = live
    monkeypatch.setattr(board.state, "version", board.state.version + 1)  # force a redraw
    monkeypatch.setattr(board.state, "snapshot", lambda: 1 / 0)
    board._next_render = 0
    r = client.get("/frame.png")
    assert r.status_code == 503 and "ZeroDivisionError" in r.json()["error"]
    assert client.get("/status").status_code == 200


def test_listen_refuses_bad_and_busy_ports():
    from mnistlab.web.server import listen
    with pytest.raises(ValueError, match="0..65535"):
        listen("127.0.0.1", 70000)
    sock = listen("127.0.0.1", 0)
    try:
        with pytest.raises(ValueError, match="choose another --port"):
            listen("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def test_missing_web_extra_is_named(monkeypatch):
    import sys
    from mnistlab.web.commands import need_web_stack
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed
    with pytest.raises(ValueError, match=r"fastapi is missing\): pip install 'mnistlab\[web\]'"):
        need_web_stack("--display web")
