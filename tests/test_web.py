"""--web: a step script serving its live panels, watched in headless Chromium (Debian's, driven by Playwright),
and the server's pieces in-process: the keys it takes, the ones it refuses, the box zoom."""
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import ROOT

os.environ.setdefault("MPLBACKEND", "Agg")
import tensorflowvisu
from visualiser import display, movie, runloop, server, web

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


STEP_1 = os.path.join(ROOT, "mnist_1.0_softmax.py")


def start_web_run(*args, script=STEP_1):
    """A step script with --web 0 (a free port): (process, url, printed lines so far, a list that grows)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", PYTHONPATH=ROOT)   # a script of one's own, too
    proc = subprocess.Popen([sys.executable, script, "--web", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=env, cwd=ROOT)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"the panels are live at (http://127\.0\.0\.1:\d+/)", line)
        if m:
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()   # keep draining
            return proc, m.group(1), lines
    raise AssertionError("no URL printed:\n" + "".join(lines))


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium at /usr/bin/chromium (apt install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def frame_of(page):
    return int(page.get_attribute("#frame", "data-frame"))


def shown(page):
    """The picture's frame number, iteration and width, read at once (the page may show a newer frame between
    two reads)."""
    return page.evaluate("""() => { const i = document.getElementById('frame');
                                    return {frame: +i.dataset.frame, iteration: +i.dataset.iteration,
                                            width: i.naturalWidth}; }""")


def wait_frame(page, after, timeout=60000):
    """Wait for a frame newer than `after` (read a frame number before what should bring it); shown()."""
    page.wait_for_function(f"() => +document.getElementById('frame').dataset.frame > {after}", timeout=timeout)
    return shown(page)


def wait_later_step(page, first, frames=4):
    """The first of the next few frames that shows a later iteration than `first` (else the last of them). A
    frame can show the same step again: step 0's early picture (its training figures, drawn while its test runs)
    is followed by step 0 with its test."""
    later = wait_frame(page, first["frame"])
    for _ in range(frames - 1):
        if later["iteration"] > first["iteration"]:
            break
        later = wait_frame(page, later["frame"])
    return later


def state(url):
    return json.loads(urllib.request.urlopen(url + "state?since=0", timeout=20).read())


def ink(png, box):
    """Share of pixels in box (x0, y0, x1, y1, fractions of the image) that are not white."""
    from PIL import Image
    im = np.asarray(Image.open(io.BytesIO(png)).convert("L"), float)
    h, w = im.shape
    x0, y0, x1, y1 = box
    return float((im[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)] < 200).mean())


# panel 4 (weights) in the six-panel layout, bottom left: its axes, tick labels and name (none of it in a layout
# of one or two other panels)
WEIGHTS_PANEL = (0.0, 0.53, 0.25, 0.97)


@pytest.mark.slow
def test_live_page_keys_pause_late_page_two_pages(browser):
    proc, url, lines = start_web_run("--iterations", "1000000")
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("dialog", lambda d: d.accept())
        page.goto(url)
        first = wait_frame(page, 0)                                     # the panels appear ...
        assert first["width"] == 1280
        assert wait_later_step(page, first)["iteration"] > first["iteration"]   # ... and follow the training
        six = ink(page.locator("#frame").screenshot(), WEIGHTS_PANEL)

        page.keyboard.press("3")                                        # a layout key: panel 3 alone
        page.wait_for_function("() => document.getElementById('frame').dataset.layout === '3'")
        alone = ink(page.locator("#frame").screenshot(), WEIGHTS_PANEL)
        assert six > 0.01 and alone < 0.002, (six, alone)               # the weights panel is gone
        page.keyboard.press("Escape")
        page.wait_for_function("() => document.getElementById('frame').dataset.layout === '0'")

        page.keyboard.press("Space")                                    # pause
        page.wait_for_function("() => document.getElementById('frame').dataset.paused === 'true'")
        assert "PAUSED" in page.text_content("#status")
        time.sleep(0.5)                                                 # the step under way ends
        before = frame_of(page)
        page.keyboard.press("h")                                        # any key draws a new frame
        wait_frame(page, before)
        paused_at = state(url)["iteration"]
        time.sleep(2)
        before = frame_of(page)
        page.keyboard.press("h")
        now = wait_frame(page, before)["frame"]
        assert state(url)["iteration"] == paused_at                     # nothing trained while paused

        late = browser.new_page(viewport={"width": 1300, "height": 900})   # a page opened late ...
        late.goto(url)
        wait_frame(late, 0, timeout=15000)
        s = state(url)
        assert frame_of(late) == now and s["first_test"] == 0 and s["tests"] >= 5   # ... has it all, from 0
        assert late.locator("#frame").screenshot() == page.locator("#frame").screenshot()

        late.keyboard.press("Space")                                    # resumed from the other page
        wait_frame(page, now)
        page.wait_for_function("() => document.getElementById('frame').dataset.paused === 'false'")
        page.wait_for_function(f"() => +document.getElementById('frame').dataset.iteration > {paused_at}")
        page.close()                                                    # closing a page: training goes on
        shown = int(late.get_attribute("#frame", "data-iteration"))
        late.wait_for_function(f"() => +document.getElementById('frame').dataset.iteration > {shown}",
                               timeout=60000)
        late.on("dialog", lambda d: d.accept())
        late.keyboard.press("q")                                        # Q ends it, as in the window
        assert proc.wait(60) == 0
        out = "".join(lines)
        assert "stopped early" in out and "max test accuracy:" in out and "Traceback" not in out
        late.wait_for_function("() => document.getElementById('status').textContent.includes('ended')")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


def test_page_stays_after_the_run_until_ctrl_c(browser):
    proc, url, lines = start_web_run("--iterations", "101")
    try:
        deadline = time.time() + 60
        while "the page stays up" not in "".join(lines) and time.time() < deadline:
            time.sleep(0.2)
        page = browser.new_page()
        lost = []                                                       # two frames lost on the way ...
        page.route("**/frame.png*", lambda route: route.abort() if len(lost) < 2 and not lost.append(1)
                   else route.continue_())
        page.goto(url)
        assert wait_frame(page, 0, timeout=15000)["width"] == 1280 and len(lost) == 2                   # asked again
        assert "finished: max test accuracy" in page.text_content("#status")
        assert state(url)["iteration"] == 100 and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0 and "max test accuracy:" in "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()


def diverging_script(folder):
    """Step 1.0 as a learner might change it, with a learning rate 10,000 times too large: its loss is NaN from
    iteration 10 on (log(0) in its cross-entropy, the NaN lesson of step 2.0), its accuracy stuck at 9.8%."""
    with open(STEP_1) as f:
        text = f.read()
    assert "GradientDescentOptimizer(0.005)" in text
    path = os.path.join(folder, "diverging.py")
    with open(path, "w") as f:
        f.write(text.replace("GradientDescentOptimizer(0.005)", "GradientDescentOptimizer(50.0)"))
    return path


@pytest.mark.slow
def test_a_diverging_run_is_shown_live_and_ends_with_its_summary(browser, tmp_path):
    proc, url, lines = start_web_run("--iterations", "1000000", script=diverging_script(tmp_path))
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("dialog", lambda d: d.accept())
        page.goto(url)
        first = wait_frame(page, 0)
        later = wait_later_step(page, first)                            # frames keep coming after the NaN ...
        assert later["iteration"] > first["iteration"] >= 0
        assert "loss: nan" in "".join(lines) and "test accuracy 9.80%" in page.text_content("#status")
        s = json.loads(urllib.request.urlopen(url + "state?since=0", timeout=20).read(),
                       parse_constant=lambda c: pytest.fail(f"{c} in the page's JSON"))
        assert s["test_accuracy"] == pytest.approx(0.098)
        page.keyboard.press("q")
        assert proc.wait(60) == 0                                       # ... and the run ends with its summary
        out = "".join(lines)
        assert re.search(r"^trained [\d,]+ iterations .*stopped early", out, re.M), out[-2000:]
        assert "max test accuracy: 0.098" in out and "Traceback" not in out and "Error" not in out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


def test_a_diverging_run_saves_its_png_and_movie(tmp_path):
    from conftest import run_script
    from PIL import Image
    import imageio_ffmpeg
    png, movie = tmp_path / "nan.png", tmp_path / "nan.mp4"
    r = run_script(diverging_script(tmp_path), "--text", "--iterations", "201", "--save-png", str(png),
                   "--save-movie", str(movie), env={"PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "loss: nan" in r.stdout and "trained 201 iterations" in r.stdout and "Traceback" not in r.stderr
    assert f"saved the panels to {png}" in r.stdout and f"to {movie}" in r.stdout
    assert Image.open(png).size == (1280, 720)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(movie))
    assert frames >= 2 and seconds >= 9.9                              # the first frames and the end, 10 s
    assert sorted(os.listdir(tmp_path)) == ["diverging.py", "nan.mp4", "nan.png"]    # no .part left


@pytest.fixture
def core(monkeypatch):
    """The display core of a --web run, in-process: a few iterations' data, its first frame drawn."""
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--text"]))
    vis = tensorflowvisu.MnistDataVis(title="web")
    for i in range(0, 200, 10):
        vis.append_training_curves_data(i, 0.5 + i / 500, 50 - i / 5)
        vis.append_test_curves_data(i, 0.6 + i / 500, 40 - i / 5)
        vis.append_data_histograms(i, np.random.default_rng(i).normal(size=100), np.ones(10) * i / 100)
    vis.publish()
    core = display.Display(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 0), display.agg_screen(vis),
                           "web", pages=True)
    core.frame()
    return core


def test_box_zoom_and_reset(core):
    ax = core.screen.view.ax[1]                              # accuracy: top left
    x0, y0, x1, y1 = ax.get_position().bounds[0], 0.2, ax.get_position().bounds[0] + 0.1, 0.3
    before = ax.get_xlim(), ax.get_ylim()
    core.apply(("zoom", x0, y0, x1, y1))
    core.frame()                                             # a redraw keeps the user's zoom (as in the window)
    xlim = ax.get_xlim()
    assert xlim[0] == pytest.approx(-0.0, abs=10) and xlim[1] < before[0][1] / 2
    assert ax.get_ylim()[1] - ax.get_ylim()[0] < (before[1][1] - before[1][0]) / 2
    core.apply("h")
    core.frame()
    assert ax.get_xlim() == pytest.approx(before[0]) and ax.get_ylim() == pytest.approx(before[1])


def test_server_takes_keys_with_its_token_only(core):
    page = server.Server(core, "127.0.0.1", 0).start()
    try:
        def post(body, host=None):
            req = urllib.request.Request(page.url + "key", data=json.dumps(body).encode(), method="POST")
            try:
                return urllib.request.urlopen(req, timeout=5).status
            except urllib.error.HTTPError as e:
                return e.code
        assert post({"key": "7", "token": "guess"}) == 403
        assert post({"key": "rm -rf", "token": page.token}) == 403
        assert post({"key": [0.1, 0.2, 3, 0.4], "token": page.token}) == 403
        assert core.keys.empty()
        assert post({"key": "7", "token": page.token}) == 204
        core.tick()
        assert core.screen.view.layout == "7" and core.state["layout"] == "7"
        text = urllib.request.urlopen(page.url, timeout=5).read().decode()
        assert page.token in text and "<title>web</title>" in text
        rebinding = urllib.request.Request(page.url, headers={"Host": "attacker.example:80"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(rebinding, timeout=5)
        assert e.value.code == 403
    finally:
        page.close()


def test_a_nan_accuracy_is_null_in_the_pages_json(core):
    core.vis.append_test_curves_data(210, float("nan"), float("nan"))
    core.vis.publish()
    core.frame()
    page = server.Server(core, "127.0.0.1", 0).start()
    try:
        s = json.loads(urllib.request.urlopen(page.url + "state?since=0", timeout=5).read(),
                       parse_constant=lambda c: pytest.fail(f"{c} in the page's JSON (JSON.parse refuses it)"))
    finally:
        page.close()
    assert s["test_accuracy"] is None and s["max_accuracy"] == pytest.approx(0.6 + 190 / 500)


def test_panels_that_cannot_be_drawn_are_said_once_not_hidden(core, monkeypatch, capsys):
    def broken(snap):
        raise ValueError("Axis limits cannot be NaN or Inf")
    monkeypatch.setattr(core.screen.view, "update", broken)
    frames = core.frames
    for _ in range(4):
        core.frame()
    out = capsys.readouterr().out
    assert core.frames == frames and out.count("\n") == 1
    assert "the panels could not be drawn at iteration 190 (ValueError: Axis limits cannot be NaN" in out


def test_busy_port_is_one_clear_line(core):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(runloop.UserError) as e:
            web.run(core.vis, core.loop, "127.0.0.1", port)
    assert f"cannot serve on 127.0.0.1:{port}" in str(e.value) and "--web 0" in str(e.value)


def test_movie_frames_are_drawn_on_the_display_thread(core, tmp_path):
    from PIL import Image
    vis = core.vis

    def step(i, test, train):
        time.sleep(0.3)                            # the first update drawn before the last is published
        vis.append_test_curves_data(300 + i, 0.9, 5)
        vis.publish(300 + i)
    film = movie.Movie(vis, str(tmp_path / "run.gif"), lambda i: (True, False), 3)
    loop = runloop.Loop(step, lambda i: (True, False), 3)
    display.Display(vis, loop, display.agg_screen(vis), "web", film, pages=True).run()   # --web --save-movie
    film.close()
    gif = Image.open(tmp_path / "run.gif")
    durations = []
    for k in range(gif.n_frames):                  # identical frames in a row are one GIF frame, held longer
        gif.seek(k)
        durations.append(gif.info["duration"])
    shown = film.writer.frames / film.fps * 1000                 # ms; a GIF times its frames in 10 ms steps
    assert loop.error is None and film.writer.frames >= 2 and 9900 <= sum(durations) <= shown
    assert shown - sum(durations) <= 10 * gif.n_frames


def test_an_error_in_training_ends_the_page_at_once(core):
    def step(i, test, train):
        raise RuntimeError("bad step")
    loop = runloop.Loop(step, lambda i: (False, False), 10)
    run = threading.Thread(target=display.Display(core.vis, loop, display.agg_screen(core.vis), "web",
                                                  pages=True).run, kwargs={"linger": True})
    run.start()
    run.join(20)
    assert not run.is_alive() and str(loop.error) == "bad step"     # animate() then raises it
