"""Every step script through its real command line, as a learner runs it: text mode, a real window under
Xvfb with key presses, the movie and the PNG, from the repository and from another folder."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, SCRIPTS, run_script

import course  # (the patterns of the printed lines)
import xvfb as xvfb_server  # benchmarks/xvfb.py


def test_there_are_the_course_steps_in_order():
    assert SCRIPTS == ["mnist_1.0_softmax.py", "mnist_2.0_five_layers_sigmoid.py",
                       "mnist_2.1_five_layers_relu_lrdecay.py", "mnist_2.2_five_layers_relu_lrdecay_dropout.py",
                       "mnist_3.0_convolutional.py", "mnist_3.1_convolutional_bigger_dropout.py",
                       "mnist_4.0_batchnorm_five_layers_sigmoid.py", "mnist_4.1_batchnorm_five_layers_relu.py",
                       "mnist_4.2_batchnorm_convolutional.py",
                       "mnist_5.0_fast_batchnorm_onecycle.py", "mnist_5.1_best_augmentation.py"]


# The two longest steps (20-30 s for a short run on a 2-core AVX2 machine) are in the slow tier: make quick
# leaves them out.
LONG = ("mnist_4.2_batchnorm_convolutional.py", "mnist_5.1_best_augmentation.py")


def slow_if_long(scripts):
    return [pytest.param(s, marks=pytest.mark.slow) if s in LONG else s for s in scripts]


@pytest.mark.parametrize("script", slow_if_long(SCRIPTS))
def test_script_in_text_mode(script, tmp_path):
    # Half the steps run from the repository, half from an unrelated folder ("No module named tensorflowvisu").
    cwd = ROOT if SCRIPTS.index(script) % 2 == 0 else str(tmp_path)
    r = run_script(script, "--text", "--iterations", "120", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "TensorFlow 2." in out and "training on CPU" in out
    run = course.parse_run(out)
    assert len(run["train"]) >= 6 and run["trained"][0] == 120           # --iterations N: N iterations
    assert run["test"] and run["test"][-1][0] in (119, 120) and run["epochs"][-1] == 1   # the last one tested
    if script == "mnist_5.1_best_augmentation.py":                      # 5.1 states its last test, no best
        assert run["max"] is None and run["final"] == run["test"][-1][1] and run["final"] > 0.5
    else:
        assert run["max"] == max(a for _, a, _ in run["test"]) and run["max"] > 0.5   # it learned in 120 steps
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []                                   # nothing written unasked


@pytest.mark.slow
def test_from_another_folder_and_same_seed_same_figures(tmp_path):
    a = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60", cwd=str(tmp_path))
    b = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60")
    c = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60", "--seed", "1")
    figures = [course.parse_run(r.stdout)["train"] + course.parse_run(r.stdout)["test"] for r in (a, b, c)]
    assert figures[0] and figures[0] == figures[1] and figures[0] != figures[2]


def imported(stderr):
    """The modules a run imported, from -X importtime's report (PYTHONPROFILEIMPORTTIME=1) on stderr."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_and_a_bad_flag_answer_before_tensorflow_loads(script):
    r = run_script(script, "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 0 and "tensorflow" not in imported(r.stderr)
    for flag in ("--text", "--iterations", "--save-movie", "--save-png", "--data-dir", "--seed", "--threads",
                 "--web", "--logdir", "7 panels 1+2 (the curves), 8 panels 4+5"):
        assert flag in " ".join(r.stdout.split()), flag
    for args, message in ((["--iterations", "many"], "'many' is not a positive whole number"),
                          (["--seed", "-1"], "'-1' is not a seed"), (["--bogus"], "unrecognized arguments: --bogus"),
                          (["--save-png", "/nowhere/x.png"], "the folder /nowhere does not exist"),
                          (["--threads", "10000"], "10000 threads on")):
        r = run_script(script, *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert (r.returncode == 2 and message in r.stderr
                and "tensorflow" not in imported(r.stderr)), (args, r.stderr[-500:])


def test_a_logdir_tensorflow_cannot_name_is_refused_before_anything_is_made(tmp_path):
    """A non-ASCII --logdir under an ASCII locale: TensorFlow names files in UTF-8 and would fail after the
    folder was made; refused first, in one line, with nothing left."""
    r = run_script("mnist_1.0_softmax.py", "--text", "--logdir", str(tmp_path / "runs-é"),
                   env={"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"})
    assert r.returncode == 2 and "is not UTF-8 in this locale" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


def test_no_display_says_so_and_runs_text(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--iterations", "20")        # no --text, and no DISPLAY
    assert r.returncode == 0, r.stderr[-2000:]
    assert "there is no display ($DISPLAY is not set), so this run is text only" in r.stdout
    assert "max test accuracy:" in r.stdout


def updates_of(out):
    """The iterations at which a run printed new figures (a training line, a test line or both): each is a
    panel update, and a slot of its movie."""
    run = course.parse_run(out)
    return sorted({i for i, *_ in run["train"]} | {i for i, *_ in run["test"]})


def test_movie_and_png_headless(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "200", "--save-movie", "run.mp4",
                   "--save-png", "end.png", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["end.png", "run.mp4"]
    import imageio_ffmpeg
    from PIL import Image
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "run.mp4"))
    meta = next(reader)
    frames = sum(1 for _ in reader)          # a frame per update as far as the budget allows, the end last
    assert 2 <= frames <= len(updates_of(r.stdout)) and meta["duration"] >= 9.9 and "saved the movie" in r.stdout
    assert np.asarray(Image.open(tmp_path / "end.png").convert("L")).std() > 20


def test_a_300_iteration_movie_lasts_10_s(tmp_path):
    """300 iterations with 3.1's schedule (2.0 has the same, and trains faster): 16 panel updates, a frame for
    each the budget allows (all of them for 3.1 on an idle machine, fewer for the faster 2.0 under load),
    timed so that the movie lasts 10 s."""
    r = run_script("mnist_2.0_five_layers_sigmoid.py", "--text", "--iterations", "300", "--save-movie", "m.mp4",
                   cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    import imageio_ffmpeg
    meta = next(imageio_ffmpeg.read_frames(str(tmp_path / "m.mp4")))
    # the frames in the file (its reader, at a rate under 1 a second, repeats each frame to fill 5x that rate)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "m.mp4"))
    assert len(updates_of(r.stdout)) == 16 and 2 <= frames <= 16 and seconds >= 9.9, r.stdout[-500:]
    assert frames / meta["fps"] >= 9.9 and meta["duration"] >= 9.9 and f"({frames} frames, 10.0 s)" in r.stdout


@pytest.mark.parametrize("script", slow_if_long(["mnist_4.1_batchnorm_five_layers_relu.py",
                                                  "mnist_4.2_batchnorm_convolutional.py"]))
def test_batchnorm_steps_loss_panel_shows_both_curves(script, tmp_path):
    """Tested at 0 before their moving averages fill, batch-norm steps print a test loss of 1e10-1e12: the
    loss panel's axis must still fit the curves, not that point. Read from the saved PNG's pixels."""
    r = run_script(script, "--text", "--iterations", "201", "--save-png", "end.png", cwd=str(tmp_path),
                   env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr[-2000:]
    first_test_loss = course.parse_run(r.stdout)["test"][0][2]
    assert first_test_loss > 1e6                                          # the case this test is about
    assert loss_panel_curves(tmp_path / "end.png") == (True, True)


def loss_panel_curves(path):
    """(training curve seen, test curve seen) in panel 2 of a saved PNG: pixels of each colour spread over
    more than a tenth of the panel's height (a curve lying on zero is a flat line a few pixels high)."""
    from PIL import Image
    from visualiser import panels
    im = np.asarray(Image.open(path).convert("RGB"), int)
    h, w, _ = im.shape
    x, y, pw, ph = panels.slot_rect(*panels.SLOTS[2])
    box = im[int((1 - y - ph) * h):int((1 - y) * h), int(x * w):int((x + pw) * w)]
    def spread(color, alpha):
        rgb = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)]) * alpha + 255 * (1 - alpha)   # on white
        rows = np.nonzero((np.abs(box - rgb).sum(-1) < 40).any(1))[0]
        return len(rows) > 0 and (rows.max() - rows.min()) > 0.1 * len(box)
    return spread(panels.TRAIN_COLOR, 0.8), spread(panels.TEST_COLOR, 1.0)       # the lines' alphas


FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_test_digits_read_their_accuracy(tmp_path):
    """On a harder set (71% after a short run) the test digits panel is not all red: its red stops where its
    scale reads the printed accuracy."""
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "101", "--data-dir", FASHION,
                   "--save-png", "fashion.png", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    accuracy = course.parse_run(r.stdout)["test"][-1][1]
    mistakes = round((1 - accuracy) * 10000)
    assert mistakes > 1000                                                # more than the panel's 1,000 cells
    per_cell = next(s for s in (1, 2, 5, 10) if mistakes <= 900 * s)     # tf_format_mnist_images' rule
    red_rows = red_rows_of_test_digits(tmp_path / "fashion.png")
    assert abs(red_rows - mistakes / per_cell / 40) <= 1.0, (red_rows, accuracy, per_cell)   # 40 digits a row


def red_rows_of_test_digits(path):
    """How many of panel 6's 25 rows of digits are red, from a saved PNG (the panel's place in the picture
    comes from the same drawing code, in an empty figure)."""
    from PIL import Image
    import tensorflowvisu
    from visualiser import display, panels
    tensorflowvisu._FLAGS = tensorflowvisu.flags(["--text"])
    vis = tensorflowvisu.MnistDataVis(title="geometry")
    vis.update_image2(np.zeros((700, 1120, 3), np.uint8))
    vis.publish()
    screen = display.agg_screen(vis)
    screen.draw(display.Snapshot(vis), "")
    box = screen.view.ax[6].get_window_extent()
    im = np.asarray(Image.open(path).convert("RGB"), int)
    h = im.shape[0]
    digits = im[int(h - box.y1) + 1:int(h - box.y0) - 1, int(box.x0) + 1:int(box.x1) - 1]
    red = np.array([round(c * 255) for c in panels.RED])
    red_share = (np.abs(digits - red).sum(-1) < 60).mean(1)               # in each pixel row
    return (red_share > 0.1).sum() / len(digits) * 25        # a white row has no red at all


def test_no_window_with_the_agg_backend_names_it(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--iterations", "3", env={"DISPLAY": ":99", "MPLBACKEND": "Agg"},
                   cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "matplotlib's backend is 'agg' (set by $MPLBACKEND)" in r.stdout and "display" not in r.stdout.split(
        "so this run")[0].split("backend")[0]


# -- a real window under Xvfb -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xvfb():
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        pytest.skip("Xvfb and xdotool are needed (.ci/run installs them)")
    with xvfb_server.display() as display:       # benchmarks/xvfb.py: a display of its own, at 96 dpi
        yield display


def wait_for(predicate, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


class Window:
    """Step 2.1 in a real window on the Xvfb display, with its output, its X window id and its keys (the run
    long enough to outlast a test's keys: 3,000 iterations ended before the pause key on an AMD EPYC family 26,
    which trains 2.1 at about 0.11 s a 100)."""

    def __init__(self, display, folder, tests=3, iterations=30000):
        self.env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        self.env["DISPLAY"] = display
        self.log_path = folder / "out.txt"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "mnist_2.1_five_layers_relu_lrdecay.py"),
                                      "--iterations", str(iterations)], cwd=folder, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: "display: window" in self.out()
                            and len(course.parse_run(self.out())["test"]) >= tests), self.out()
            self.id = subprocess.run(["xdotool", "search", "--sync", "--name", "mnist_2.1"], env=self.env,
                                     capture_output=True, text=True, timeout=30).stdout.split()[0]
        except BaseException:
            self.close()
            raise

    def out(self):
        return self.log_path.read_text()

    def key(self, k):
        subprocess.run(["xdotool", "key", "--window", self.id, k], env=self.env, capture_output=True)

    def box(self):
        """(left, top, right, bottom) of the window on the screen."""
        shell = subprocess.run(["xdotool", "getwindowgeometry", "--shell", self.id],
                               env=self.env, capture_output=True, text=True).stdout
        g = dict(line.split("=") for line in shell.split())
        x, y, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        return x, y, x + w, y + h

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.log.close()


@pytest.mark.slow
def test_window_keys_pause_and_ctrl_c(xvfb, tmp_path):
    window = Window(xvfb, tmp_path)
    out, key, proc = window.out, window.key, window.proc
    try:
        from PIL import ImageGrab
        time.sleep(2)
        six = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("L"), float)
        assert six.std() > 30                                               # the six panels, not a blank
        key("3")
        time.sleep(1.5)
        one = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("L"), float)
        assert np.abs(one - six).mean() > 5                                 # the layout changed: digits alone
        key("space")
        time.sleep(1.5)
        trained = lambda: len(course.parse_run(out())["train"])  # noqa: E731
        paused_at = trained()
        time.sleep(2.5)
        assert trained() == paused_at                                      # SPACE paused the training
        key("space")
        assert wait_for(lambda: trained() > paused_at + 3, 20)
        key("ctrl+s")
        assert wait_for(lambda: "saved the panels to" in out(), 20)
        assert any(f.endswith(".png") for f in os.listdir(tmp_path))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        text = out()
        assert "interrupted (Ctrl-C)" in text and re.search(r"^max test accuracy: 0\.[89]", text, re.M), text[-2000:]
    finally:
        window.close()


# -- what each key shows, read from the screen ------------------------------------------------------------
def region_panel(part):
    """Which of the six panels a part of a screenshot shows, read from what is drawn there, as a person would:
    the red test curve rising (accuracy) or falling (loss) from its start, else light blue bands (weights),
    light orange bands (biases), mostly dark ink in a square (training digits) or a wide (test digits) block.
    The curve first: a dense training curve's anti-aliased edges are the weights' light blue."""
    near = lambda rgb, tol: np.abs(part - np.array(rgb)).sum(-1) < tol  # noqa: E731
    y, x = np.nonzero(near((214, 39, 40), 60))                          # the test curve: line and dots
    if len(x) >= 20:
        # where it starts against where most of it lies (its legend's sample, on the right, is a few pixels):
        # an accuracy starts below the rest (rows grow downwards), a loss above
        return "accuracy" if y[x <= np.percentile(x, 10)].mean() > np.median(y) else "loss"
    if near((158, 202, 225), 60).mean() > 0.02:
        return "weights"
    if near((253, 174, 107), 60).mean() > 0.02:
        return "biases"
    ink = part.sum(-1) < 250
    if ink.mean() > 0.04:
        r, c = np.nonzero(ink)
        ratio = (np.percentile(c, 99) - np.percentile(c, 1)) / (np.percentile(r, 99) - np.percentile(r, 1))
        return "training digits" if ratio < 1.3 else "test digits"
    return None


def screen_panels(image, count):
    """The panels shown in a screenshot of the window, in reading order (1, 2 or 6 of them)."""
    im = np.asarray(image.convert("RGB"), int)
    h, w, _ = im.shape
    canvas = im[int(h * 0.07):int(h * 0.93), :]                         # below the status line, above the toolbar
    ch, cw, _ = canvas.shape
    parts = ([canvas] if count == 1 else [canvas[:, :cw // 2], canvas[:, cw // 2:]] if count == 2 else
             [canvas[r * ch // 2:(r + 1) * ch // 2, c * cw // 3:(c + 1) * cw // 3] for r in range(2) for c in range(3)])
    return [region_panel(p) for p in parts]


def after_change(grab, before, timeout=30):
    """A screenshot once the screen has changed from `before` and stopped changing (the redraw after a key
    is done; the training is paused): two grabs half a second apart the same."""
    last, end = np.asarray(grab()), time.time() + timeout
    while time.time() < end:
        time.sleep(0.5)
        now = np.asarray(grab())
        if np.array_equal(now, last) and not np.array_equal(now, before):
            break
        last = now
    from PIL import Image
    return Image.fromarray(last)


COURSE_KEYS = {"1": ["accuracy"], "2": ["loss"], "3": ["training digits"], "4": ["weights"], "5": ["biases"],
               "6": ["test digits"], "7": ["accuracy", "loss"], "8": ["weights", "biases"],
               "9": ["training digits", "test digits"],
               "0": ["accuracy", "loss", "training digits", "weights", "biases", "test digits"]}


@pytest.mark.slow
def test_window_keys_show_the_courses_panels(xvfb, tmp_path):
    """Keys 1-9 and 0 in a real window, each checked from a screenshot: the course's panel numbers. Paused
    after 6 tests of 1,000 iterations: the curves fill more than half of their panels (the iteration axis
    spans the run)."""
    window = Window(xvfb, tmp_path, tests=6, iterations=1000)
    try:
        from PIL import ImageGrab
        key = window.key
        # the window's box read at each grab: Tk scales the figure to the display's dpi once it is mapped (on
        # Xvfb's default dpi, 1280 x 770 becomes 1331 x 799 a few seconds in)
        grab = lambda: ImageGrab.grab(xdisplay=xvfb).crop(window.box())  # noqa: E731
        before = np.asarray(grab())
        key("space")                                                     # paused: the data stays as it is
        after_change(grab, before)                                       # (its title line says so)
        seen = {}
        for k, panels in COURSE_KEYS.items():
            before = np.asarray(grab())
            key(k)
            shot = after_change(grab, before)
            shot.save(tmp_path / f"key-{k}.png")
            seen[k] = screen_panels(shot, len(panels))
        assert seen == COURSE_KEYS
        key("q")                                                         # paused: Q ends it, cleanly
        assert window.proc.wait(30) == 0 and "Traceback" not in window.out(), window.out()[-2000:]
    finally:
        window.close()


@pytest.mark.slow
def test_the_window_shows_its_first_picture_while_the_first_test_runs(xvfb, tmp_path):
    """4.2's first step tests 10,000 digits (about a second) after its training line: the window's first picture
    shows that step's training figures (the frame log's "first" line) and is on screen before the test's line
    arrives (the marks and the arrival on one clock, CLOCK_MONOTONIC, as benchmarks/startup.py reads them).
    Before, the first picture waited for the whole step, or for 1 s and then showed empty panels. The window is
    made while that step runs (window.run starts the training first): before, the step began after it."""
    import json
    log, frames = tmp_path / "startup.json", tmp_path / "frames.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(DISPLAY=xvfb, TFVISU_STARTUP_LOG=str(log), TFVISU_FRAME_LOG=str(frames), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "mnist_4.2_batchnorm_convolutional.py"),
                             "--iterations", "1"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    arrived, lines = None, []
    try:
        for line in proc.stdout:
            lines.append(line)
            if arrived is None and course.TEST_LINE.match(line.rstrip("\n")):
                arrived = time.perf_counter()
            if "close the window to end" in line:
                subprocess.run(["xdotool", "search", "--name", "mnist_4.2", "key", "q"], env=env, capture_output=True)
        assert proc.wait(60) == 0, "".join(lines)[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    marks = json.loads(log.read_text())["marks"]
    assert arrived and marks["figures"] < marks["drawn"] < arrived, (marks, arrived, "".join(lines)[-1500:])
    assert marks["session"] < marks["loop"] < marks["window"] < marks["drawn"], marks
    first = [f for f in map(json.loads, frames.read_text().splitlines()) if f["target"] == "first"]
    assert [(f["iteration"], f["train"], f["test"], f["updates"]) for f in first] == [(0, 1, 0, 0)], first


@pytest.mark.slow
def test_window_frames_follow_the_training_to_its_last_iteration(xvfb, tmp_path):
    """A short run of step 1.0 in a real window, its frames recorded (TFVISU_FRAME_LOG): each frame shows a
    later iteration than the one before, frames come while it trains (2,000 iterations, 2-3 s), none of them a
    full draw (the window's first picture is drawn once, before the second step, at its final size: at Xvfb's
    96.1 dpi it would otherwise be sized and drawn three times), and the last shows the last iteration
    with every panel update in it; the window on screen then holds the six panels."""
    import json
    log = tmp_path / "frames.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(DISPLAY=xvfb, TFVISU_FRAME_LOG=str(log))
    out_path = tmp_path / "out.txt"
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "mnist_1.0_softmax.py"), "--iterations", "2000"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: "close the window to end" in out_path.read_text(), 120), out_path.read_text()
            time.sleep(0.5)
            from PIL import ImageGrab
            wid = subprocess.run(["xdotool", "search", "--name", "mnist_1.0"], env=env, capture_output=True,
                                 text=True).stdout.split()[0]
            g = dict(line.split("=") for line in subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid],
                                                                env=env, capture_output=True, text=True).stdout.split())
            x, y = int(g["X"]), int(g["Y"])
            shot = ImageGrab.grab(xdisplay=xvfb).crop((x, y, x + int(g["WIDTH"]), y + int(g["HEIGHT"])))
            subprocess.run(["xdotool", "key", "--window", wid, "q"], env=env, capture_output=True)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = out_path.read_text()
    logged = list(map(json.loads, log.read_text().splitlines()))
    frames = [f for f in logged if f["target"] == "window"]
    assert [f["size"] for f in logged if f.get("kind") == "full"] == [[1280, 720]], logged     # drawn once
    shown = [f["iteration"] for f in frames]
    assert shown == sorted(shown) and len(set(shown)) >= 3, shown           # successive frames, later iterations
    assert shown[-1] == 1999 and frames[-1]["updates"] == len(updates_of(text)), (frames[-1], text[-300:])
    assert all(f["kind"] in ("full", "cached", "restage", "blit", None) for f in frames)
    assert "full" not in [f["kind"] for f in frames], frames
    assert screen_panels(shot, 6) == COURSE_KEYS["0"]
