"""The look-inside view live (visualiser/inside_live.py) through the command line: key I in a real window under
Xvfb and on the --web page, read from screenshots; --view inside in --save-png; its --help and a bad value; the
confusion matrix's click and the digit keys on an Agg screen."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_script
from test_scripts import after_change, wait_for, xvfb  # noqa: F401 (xvfb: the fixture)
from test_web import browser, start_web_run  # noqa: F401 (browser: the fixture)

import course

STEP_2_2 = "mnist_2.2_five_layers_relu_lrdecay_dropout.py"
STEP_1_0 = "mnist_1.0_softmax.py"          # the lightest step: these tests are about the view, not the network
DIAGONAL = (219, 237, 219)         # the confusion matrix's diagonal cells (inside_view.DIAGONAL)


def confusion_diagonal(image):
    """How well the light green cells in the left quarter of a screenshot (where the view has its confusion
    matrix; its per-digit bars, on their right, share the colour) line up along a descending diagonal, as a
    person reads the matrix: the correlation of their columns and rows (1.0: a clean diagonal), 0 when there
    are fewer than 500 such pixels (no matrix)."""
    im = np.asarray(image.convert("RGB"), int)
    im = im[:, :im.shape[1] // 4]
    y, x = np.nonzero(np.abs(im - np.array(DIAGONAL)).sum(-1) < 12)
    if len(x) < 500:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def bias_bands(image):
    """Pixels of the biases panel's bands (flat fills of three shades of matplotlib's Oranges): thousands in the
    six panels, next to none in the inside view."""
    import matplotlib
    shades = np.round(matplotlib.colormaps["Oranges"]([0.35, 0.5, 0.7])[:, :3] * 255)
    im = np.asarray(image.convert("RGB"), int)
    return int(sum((np.abs(im - shade).sum(-1) <= 6).sum() for shade in shades))


def test_view_flag_help_and_bad_value():
    r = run_script(STEP_2_2, "--help")
    assert r.returncode == 0 and "--view {panels,inside}" in r.stdout and "I look inside" in " ".join(r.stdout.split())
    r = run_script(STEP_2_2, "--view", "outside")
    assert r.returncode == 2 and "argument --view: invalid choice: 'outside'" in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr and last.endswith("(choose from 'panels', 'inside')")


def test_save_png_of_the_inside_view(tmp_path):
    """--view inside: the final PNG is the view, its matrix on a diagonal; none of the six panels."""
    r = run_script(STEP_1_0, "--text", "--iterations", "100", "--view", "inside", "--save-png", "in.png",
                   cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    from PIL import Image
    shot = Image.open(tmp_path / "in.png")
    assert confusion_diagonal(shot) > 0.95


def test_window_key_i_shows_the_view_and_0_the_panels(xvfb, tmp_path):  # noqa: F811
    """Step 1.0 in a real window: I while it trains shows the view (read from a screenshot), N another digit,
    0 the six panels again, I twice back and forth; Q ends the run."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DISPLAY"] = xvfb
    log = tmp_path / "out.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, STEP_1_0), "--iterations", "200"], cwd=tmp_path,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: len(course.parse_run(log.read_text())["test"]) >= 1), log.read_text()
        wid = subprocess.run(["xdotool", "search", "--sync", "--name", "mnist_1.0"], env=env, capture_output=True,
                             text=True, timeout=30).stdout.split()[0]
        g = dict(line.split("=") for line in subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid],
                                                            env=env, capture_output=True, text=True).stdout.split())
        x, y = int(g["X"]), int(g["Y"])
        box = (x, y, x + int(g["WIDTH"]), y + int(g["HEIGHT"]))
        from PIL import ImageGrab
        grab = lambda: ImageGrab.grab(xdisplay=xvfb).crop(box)  # noqa: E731
        key = lambda k: subprocess.run(["xdotool", "key", "--window", wid, k], env=env)  # noqa: E731
        assert wait_for(lambda: np.asarray(grab().convert("L")).std() > 30)      # the window has drawn
        time.sleep(1)
        panels = np.asarray(grab(), float)
        assert confusion_diagonal(grab()) == 0.0 and bias_bands(grab()) > 3000      # the six panels: no matrix
        key("i")
        assert wait_for(lambda: confusion_diagonal(grab()) > 0.95, 30)
        inside = after_change(grab, panels)
        inside.save(tmp_path / "inside.png")
        assert bias_bands(inside) < 1000
        before = np.asarray(grab())
        key("n")                                                         # another digit: the trace changes
        assert not np.array_equal(np.asarray(after_change(grab, before)), before)
        key("0")
        assert wait_for(lambda: confusion_diagonal(grab()) == 0.0 and bias_bands(grab()) > 3000, 30)   # the six
        key("i")
        assert wait_for(lambda: confusion_diagonal(grab()) > 0.95, 30)
        key("i")
        assert wait_for(lambda: confusion_diagonal(grab()) == 0.0, 30)
        key("q")
        assert proc.wait(60) == 0
        assert "max test accuracy:" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_page_key_i_shows_the_view(browser):  # noqa: F811
    """The --web page: I shows the view (the frame's layout, and the matrix read from the picture), 0 the
    panels."""
    proc, url, lines = start_web_run("--iterations", "150")         # step 1.0
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(url)
        page.wait_for_function("() => +document.getElementById('frame').dataset.frame > 0", timeout=60000)
        page.keyboard.press("i")
        page.wait_for_function("() => document.getElementById('frame').dataset.layout === 'i'", timeout=60000)
        import io
        from PIL import Image

        def shown():
            return Image.open(io.BytesIO(page.locator("#frame").screenshot()))
        assert wait_for(lambda: confusion_diagonal(shown()) > 0.95, 30)
        page.click("button[data-key='0']")
        page.wait_for_function("() => document.getElementById('frame').dataset.layout === '0'", timeout=60000)
        assert wait_for(lambda: confusion_diagonal(shown()) == 0.0, 30)
    finally:
        proc.kill()
        proc.wait()


# -- in this process, on an Agg screen -----------------------------------------------------------------------
def test_a_click_on_the_confusion_matrix_traces_a_digit_of_that_cell(monkeypatch):
    """A cell clicked (the page's point, the window's click: Display.zoom with a box of no size) picks a digit
    of that (correct, computed) pair among the test panel's; N and B move along them; a cell it has none of
    changes nothing."""
    from visualiser import inside_live
    vis, core = agg_core(monkeypatch)
    core.apply("i")
    core.frame()
    view = core.screen.view
    assert isinstance(view, inside_live.View) and vis.inside.showing == {view}
    w, h = core.screen.fig.canvas.get_width_height()

    def click(row, col):
        px, py = view.drawing.ax_confusion.transData.transform((col, row))
        core.apply(("zoom", px / w, 1 - py / h, px / w, 1 - py / h))

    click(9, 4)
    assert vis.inside.k == 1
    click(1, 1)
    assert vis.inside.k == 3
    click(1, 1)                                   # the same cell again: its next digit
    assert vis.inside.k == 4
    click(2, 8)                                   # none of these: as it was
    assert vis.inside.k == 4
    core.apply("n")
    assert vis.inside.k == 5 and core.screen.view is view
    core.apply("i")                               # I again: the panels
    assert core.screen.view is core.screen.views["0"] and not vis.inside.showing


def test_the_notebook_and_the_page_offer_the_views_keys():
    """The notebook's buttons and the page's (both from panels.KEYS) and the keys their pages send."""
    from visualiser import server
    html = server.controls_html("http://127.0.0.1:1/", "token")
    for key in ("i", "n", "b"):
        assert f'data-key="{key}"' in html and key in server.KEYS
    assert '"i", "n", "b"].includes(k)' in server.KEYS_JS


def agg_core(monkeypatch):
    """The inside view's display core on an Agg screen, over one test of six digits (nothing to trace: no
    graph), its training marked as running."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import tensorflowvisu
    from visualiser import display, inside_live, runloop
    tensorflowvisu.flags([])
    vis = tensorflowvisu.MnistDataVis()
    labels, computed = np.array([4, 9, 3, 1, 1, 7]), np.array([9, 4, 5, 1, 1, 7])
    vis.update_image2({"digits": np.zeros((6, 28, 28), np.uint8), "labels": labels, "computed": computed, "shown": 6,
                       "lines": 1, "per_cell": 1, "tested": 6, "confusion": np.eye(10, dtype=int)})
    vis.append_test_curves_data(0, 0.5, 1.0)
    vis.inside = inside_live.Live(vis, None, runloop.Loop(None, None, 10))
    vis.views = {"i": inside_live.View}
    return vis, display.Display(vis, vis.inside.loop, display.agg_screen(vis))


def test_the_training_reads_the_network_once_a_frame_not_once_a_test(monkeypatch):
    """While the view is shown, a test step is followed by a read of the network (first layer, trace) only once a
    frame has drawn the last read: 1.0 tests 45 times in its 2 s, its view draws 8-10 frames. A test no read
    has followed is read when the training ends, so the last frame shows the last test's network."""
    vis, core = agg_core(monkeypatch)
    live = vis.inside
    looks = []
    monkeypatch.setattr(live.find(), "look", lambda digit, iteration: looks.append(iteration) or tuple([None, None]))
    live.after_step(0, True)
    assert looks == []                            # the view not shown: nothing read
    core.apply("i")
    live.after_step(1, False)                     # just shown: read at the next step
    live.after_step(50, True)                     # that read not drawn yet: none
    assert looks == [1]
    core.frame()                                  # drawn; a test has come since: read at the next step
    live.after_step(51, False)
    live.after_step(52, False)
    live.after_step(100, True)
    live.after_step(150, True)
    assert looks == [1, 51]
    core.frame()
    live.after_step(151, False)
    assert looks == [1, 51, 151]
    core.frame()
    live.after_step(200, True)                    # the last read drawn: a test is read at once
    assert looks == [1, 51, 151, 200]
    live.after_step(250, True)                    # a test after a read not drawn yet, then the training ends
    vis.inside.loop.done.set()
    vis.iteration = 250
    core.frame()                                  # the display's thread reads it, once
    core.frame()
    assert looks == [1, 51, 151, 200, 250]
    core.apply("0")
    live.after_step(300, True)
    live.after_step(301, False)
    assert looks == [1, 51, 151, 200, 250]        # the panels shown: nothing read


def test_the_view_keeps_its_frames_to_its_budget_from_the_start(monkeypatch):
    """While the view is shown, the budget's bucket holds one of its frames (pacing.VIEW_BURST), not the panels'
    burst: a short run's first frames cannot spend more than its share (docs/inside.md); and it is refilled at
    the view's share of a core (pacing.VIEW_BUDGET: its frames hold the interpreter's lock longer a CPU second).
    Back to the panels, the burst and the share are theirs again."""
    from visualiser import pacing
    _, core = agg_core(monkeypatch)
    core.tick()
    assert core.pacer.burst == pacing.BURST and core.pacer.tokens == pytest.approx(pacing.BURST)
    core.apply("i")
    core.tick()
    assert core.pacer.burst == pacing.VIEW_BURST < pacing.BURST
    assert core.pacer.budget == pacing.VIEW_BUDGET < pacing.BUDGET
    later = time.monotonic() + 100
    assert core.pacer.affordable(later) and core.pacer.tokens <= pacing.VIEW_BURST
    core.pacer.spent(later, 1.0, paced=False)                    # overdrawn: refilled at the view's share
    assert core.pacer.wait(later) == pytest.approx(pacing.DEBT / pacing.VIEW_BUDGET)
    core.apply("0")
    core.tick()
    assert core.pacer.burst == pacing.BURST and core.pacer.budget == pacing.BUDGET
