"""The dashboard through the real CLI: the window under Xvfb, no display, auto, show and compare."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

pytest.importorskip("matplotlib")
HEADLESS = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
QUICK = ["1.0", "--iterations", "100", "--eval-every", "50", "--digits-every", "50"]


def read_xwd(path: Path) -> np.ndarray:
    """The screen of an Xvfb started with -fbdir (an XWD file): (H, W, 3) uint8."""
    raw = path.read_bytes()
    h = struct.unpack(">25I", raw[:100])
    header, width, height, byte_order, bytes_per_line, ncolors = h[0], h[4], h[5], h[7], h[12], h[19]
    px = np.frombuffer(raw, np.uint8, count=bytes_per_line * height, offset=header + 12 * ncolors)
    px = px.reshape(height, bytes_per_line)[:, :width * 4].reshape(height, width, 4)
    return px[..., [2, 1, 0]] if byte_order == 0 else px[..., [1, 2, 3]]


@pytest.fixture(scope="module")
def xvfb(tmp_path_factory):
    """A virtual X screen on a free display number; yields (env with DISPLAY, framebuffer file)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    fbdir = tmp_path_factory.mktemp("fb")
    for n in range(90, 140):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-fbdir", str(fbdir),
                                 "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{n}").exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.skip("no free X display number")
    try:
        yield {**HEADLESS, "DISPLAY": f":{n}"}, fbdir / "Xvfb_screen0"
    finally:
        proc.terminate()
        proc.wait()


def test_real_window_under_xvfb_shows_the_dashboard_and_ctrl_c_stops_cleanly(xvfb, tmp_path):
    env, fb = xvfb
    run_dir = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "mnistlab", "train", "1.0", "--iterations", "100000", "--display",
                          "window", "--refresh-fps", "10", "--run-dir", str(run_dir)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even under a `&` shell
    best, deadline = None, time.time() + 90
    try:
        while p.poll() is None and time.time() < deadline:  # screenshots while the window is up
            screen = read_xwd(fb)
            red = ((screen[..., 0] > 200) & (screen[..., 1] < 150) & (screen[..., 2] < 150)).mean()
            white = (screen > 240).all(-1).mean()
            if red > 0.01 and white > 0.2:
                best = screen
                break
            time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGINT)  # Ctrl-C in the terminal: like closing the window
        out, err = p.communicate(timeout=60)
    assert best is not None, "the window never showed digits on red and white"
    assert len(np.unique(best.reshape(-1, 3)[::97], axis=0)) > 50  # a real picture, not a blank screen
    assert p.returncode == 130, err
    assert "--resume" in err and (run_dir / "checkpoint.pt").exists()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"


def test_window_keys_under_xvfb_and_closing_stops_the_training(xvfb, tmp_path):
    """In a real TkAgg figure: matplotlib's own key handler is off on the dashboard (l keeps linear
    scales) while the course's keys work; closing the window asks the training to stop."""
    env, _ = xvfb
    script = """
import json
from matplotlib.backend_bases import KeyEvent
from mnistlab.dashboard.live import Window
from mnistlab.dashboard.state import DashboardState
w = Window(DashboardState())
w._open()
canvas = w.fig.canvas
press = lambda k: canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, k))
for k in ("l", "k", "g", "8"):
    press(k)
got = {"backend": type(canvas).__name__, "yscale": w.dash.panels[3].ax.get_yscale(),
       "xscale": w.dash.panels[3].ax.get_xscale(), "visible": w.dash.visible}
# closing the window stops the training (Control.stop) and run() returns its result
import time
w.plt.close(w.fig)
from mnistlab.loop import Control
w = Window(DashboardState(), control=Control())
def train():
    while not w.control.stop_requested:
        time.sleep(0.01)
    return "stopped"
w._open()
closer = w.fig.canvas.new_timer(interval=1500)
closer.add_callback(lambda: w.plt.close(w.fig))
closer.start()
got["result"] = w.run(train)
print(json.dumps(got))
"""
    p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got == {"backend": "FigureCanvasTkAgg", "yscale": "linear", "xscale": "linear", "visible": [3, 4],
                   "result": "stopped"}


def cli(argv, capsys) -> tuple[int, str]:
    """`mnistlab ARGV` in this process (torch and the data already loaded): (exit status, stderr)."""
    from mnistlab.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.fixture()
def headless(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)


def test_window_without_display_is_a_usage_error(tmp_path, capsys, headless):
    code, err = cli(["train", *QUICK, "--display", "window", "--run-dir", tmp_path / "run"], capsys)
    assert code == 2
    assert "--save-png" in err and "--display text" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing half-made


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """`mnistlab train` headless with the default --display auto, recording a video into a new folder."""
    tmp = tmp_path_factory.mktemp("auto")
    p = run_cli("train", *QUICK, "--run-dir", tmp / "run", "--save-video", tmp / "new" / "v.mp4", env=HEADLESS)
    assert p.returncode == 0, p.stderr
    return tmp, p


def test_auto_without_display_prints_text_and_saves_the_dashboard(auto_run):
    tmp, p = auto_run
    assert "test accuracy" in p.stderr  # the text display
    assert (tmp / "run" / "dashboard.png").read_bytes()[:4] == b"\x89PNG"
    import imageio.v3 as iio
    frames = list(iio.imiter(tmp / "new" / "v.mp4", plugin="FFMPEG"))
    assert frames and frames[0].shape == (720, 1280, 3)


def test_show_a_truncated_run_draws_and_reports_the_skip(auto_run, tmp_path, capsys, headless):
    src, _ = auto_run
    run = tmp_path / "killed"
    shutil.copytree(src / "run", run)
    data = (run / "metrics.jsonl").read_bytes()
    (run / "metrics.jsonl").write_bytes(data[:-25])  # a kill -9 in the middle of the last line
    code, err = cli(["show", run, "--save-png", tmp_path / "out" / "d.png"], capsys)
    assert code == 0, err
    assert "skipped line" in err
    assert (tmp_path / "out" / "d.png").stat().st_size > 10_000
    code, err = cli(["show", run], capsys)  # no screen: the PNG goes into the run dir
    assert code == 0 and (run / "dashboard.png").exists()
    code, err = cli(["show", tmp_path], capsys)
    assert code == 1 and "not a run dir" in err and "Traceback" not in err


def test_compare_overlays_runs_with_a_legend_by_recipe(auto_run, tmp_path, capsys, headless):
    from mnistlab.dashboard.commands import compare_figure
    src, _ = auto_run
    fig = compare_figure([src / "run", src / "run"])
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["1.0 softmax (run)", "1.0 softmax (run)"]
    assert list(fig.axes[0].lines[0].get_xdata()) == [50, 100]
    code, err = cli(["compare", src / "run", tmp_path, "--save-png", tmp_path / "c.png"], capsys)
    assert code == 0, err
    assert "skipped" in err and (tmp_path / "c.png").exists()
    code, err = cli(["compare", tmp_path], capsys)
    assert code == 1 and "none of the given folders" in err
