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

TRAIN_LINE = re.compile(r"^\d+: accuracy:[\d.]+ loss: [\d.]+( \(lr:[\d.e-]+\))?$", re.M)
TEST_LINE = re.compile(r"^(\d+): \*+ epoch (\d+) \*+ test accuracy:([\d.]+) test loss: [\d.]+$", re.M)


def test_there_are_the_course_steps():
    assert SCRIPTS == ["mnist_1.0_softmax.py", "mnist_2.0_five_layers_sigmoid.py",
                       "mnist_2.1_five_layers_relu_lrdecay.py", "mnist_2.2_five_layers_relu_lrdecay_dropout.py",
                       "mnist_3.0_convolutional.py", "mnist_3.1_convolutional_bigger_dropout.py",
                       "mnist_4.0_batchnorm_five_layers_sigmoid.py", "mnist_4.1_batchnorm_five_layers_relu.py",
                       "mnist_4.2_batchnorm_convolutional.py",
                       "mnist_5.0_fast_batchnorm_onecycle.py", "mnist_5.1_best_augmentation.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_in_text_mode(script, tmp_path):
    # Half the steps run from the repository, half from an unrelated folder ("No module named tensorflowvisu").
    cwd = ROOT if SCRIPTS.index(script) % 2 == 0 else str(tmp_path)
    r = run_script(script, "--text", "--iterations", "120", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "TensorFlow 2." in out and "training on CPU" in out
    assert len(TRAIN_LINE.findall(out)) >= 6
    tests = TEST_LINE.findall(out)
    assert tests and tests[-1][0] == "120" and tests[-1][1] == "1"
    final = float(re.search(r"^max test accuracy: ([\d.]+)$", out, re.M).group(1))
    assert final == max(float(t[2]) for t in tests) and final > 0.5     # it learned something in 120 steps
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []                                   # nothing written unasked


def test_from_another_folder_and_same_seed_same_figures(tmp_path):
    a = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60", cwd=str(tmp_path))
    b = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60")
    c = run_script("mnist_2.2_five_layers_relu_lrdecay_dropout.py", "--text", "--iterations", "60", "--seed", "1")
    figures = [TRAIN_LINE.findall(r.stdout) and re.findall(r"accuracy:[\d.]+ loss: [\d.]+", r.stdout) for r in (a, b, c)]
    assert figures[0] == figures[1] and figures[0] != figures[2]


def test_help_lists_every_flag():
    r = run_script("mnist_3.0_convolutional.py", "--help")
    assert r.returncode == 0
    for flag in ("--text", "--iterations", "--save-movie", "--save-png", "--data-dir", "--seed"):
        assert flag in r.stdout


def test_bad_flag_is_one_clear_line():
    r = run_script("mnist_1.0_softmax.py", "--iterations", "many")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "'many' is not a positive whole number" in r.stderr


def test_no_display_says_so_and_runs_text(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--iterations", "20")        # no --text, and no DISPLAY
    assert r.returncode == 0, r.stderr[-2000:]
    assert "there is no display ($DISPLAY is not set), so this run is text only" in r.stdout
    assert "max test accuracy:" in r.stdout


def test_movie_and_png_headless(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "200", "--save-movie", "run.mp4",
                   "--save-png", "end.png", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["end.png", "run.mp4"]
    import imageio_ffmpeg
    from PIL import Image
    frames = list(imageio_ffmpeg.read_frames(str(tmp_path / "run.mp4")))[1:]
    # at most one per test (every 10 during the first 50, then every 50), within the drawing budget
    assert 2 <= len(frames) <= 1 + 200 // 10 // 5 + 4 and "saved the movie" in r.stdout
    assert np.asarray(Image.open(tmp_path / "end.png").convert("L")).std() > 20


# -- a real window under Xvfb -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xvfb():
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        pytest.skip("Xvfb and xdotool are needed (.ci/run installs them)")
    display = ":%d" % (90 + os.getpid() % 9)
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    yield display
    server.terminate()
    server.wait()


def wait_for(predicate, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_window_keys_pause_and_ctrl_c(xvfb, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DISPLAY"] = xvfb
    log = open(tmp_path / "out.txt", "w")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "mnist_2.1_five_layers_relu_lrdecay.py"),
                             "--iterations", "100000"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        out = lambda: (tmp_path / "out.txt").read_text()
        assert wait_for(lambda: "display: window" in out() and len(TEST_LINE.findall(out())) >= 3), out()
        window = subprocess.run(["xdotool", "search", "--sync", "--name", "mnist_2.1"], env=env,
                                capture_output=True, text=True, timeout=30).stdout.split()[0]
        key = lambda k: subprocess.run(["xdotool", "key", "--window", window, k], env=env, capture_output=True)
        from PIL import ImageGrab
        time.sleep(2)
        six = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("L"), float)
        assert six.std() > 30                                               # the six panels, not a blank
        key("2")
        time.sleep(1.5)
        one = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("L"), float)
        assert np.abs(one - six).mean() > 5                                 # the layout changed
        key("space")
        time.sleep(1.5)
        paused_at = len(TRAIN_LINE.findall(out()))
        time.sleep(2.5)
        assert len(TRAIN_LINE.findall(out())) == paused_at                  # SPACE paused the training
        key("space")
        assert wait_for(lambda: len(TRAIN_LINE.findall(out())) > paused_at + 3, 20)
        key("ctrl+s")
        assert wait_for(lambda: "saved the panels to" in out(), 20)
        assert any(f.endswith(".png") for f in os.listdir(tmp_path))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        text = out()
        assert "interrupted (Ctrl-C)" in text and re.search(r"^max test accuracy: 0\.[89]", text, re.M), text[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
