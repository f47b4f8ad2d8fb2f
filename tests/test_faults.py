"""A step run that is interrupted or cannot write: Ctrl-C during the start-up, SIGTERM mid-run, Ctrl-C while
the outputs are written, a full disk. Each ends with one line and the summary, and leaves no partial file."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import course
from conftest import ROOT

os.environ.setdefault("MPLBACKEND", "Agg")


def start(script, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, script), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def loading_tensorflow(pid):
    """True once TensorFlow's shared library is mapped: the process is inside `import tensorflow`."""
    try:
        return "libtensorflow" in open(f"/proc/{pid}/maps").read()
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc to see TensorFlow's import start")
@pytest.mark.parametrize("sig,name", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_interrupt_during_tensorflows_import_is_one_line(tmp_path, sig, name):
    proc = start("mnist_1.0_softmax.py", "--text", cwd=tmp_path)
    deadline = time.time() + 60
    while not loading_tensorflow(proc.pid) and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert f"interrupted ({name}) during start-up, before the first iteration: nothing was trained" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert os.listdir(tmp_path) == []


def test_sigterm_mid_run_ends_like_ctrl_c_with_the_files_complete(tmp_path):
    proc = start("mnist_1.0_softmax.py", "--text", "--iterations", "1000000", "--save-movie", "m.mp4",
                 "--save-png", "end.png", cwd=tmp_path)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("100: *"):
            proc.send_signal(signal.SIGTERM)
            break
    out = "".join(lines) + proc.stdout.read()
    assert proc.wait(60) == 0, proc.stderr.read()[-2000:]
    assert "interrupted (SIGTERM) at iteration" in out and "stopped early, at iteration" in out
    assert "saved the movie" in out and "saved the panels to end.png" in out and "max test accuracy:" in out
    assert sorted(os.listdir(tmp_path)) == ["end.png", "m.mp4"]                  # no *.part* left


def test_a_finished_run_is_not_called_stopped_early(tmp_path):
    proc = start("mnist_1.0_softmax.py", "--text", "--iterations", "51", cwd=tmp_path)
    out, _ = proc.communicate(timeout=300)
    assert course.parse_run(out)["trained"][0] == 51 and "stopped early" not in out


# -- Ctrl-C while the outputs are written, in-process -----------------------------------------------------------
@pytest.fixture
def vis(monkeypatch, tmp_path):
    import tensorflowvisu
    monkeypatch.chdir(tmp_path)
    flags = tensorflowvisu.flags(["--text", "--save-png", "end.png", "--save-movie", "m.gif"])
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", flags)
    return tensorflowvisu.MnistDataVis(title="faults")


def step(vis):
    def training_step(i, test, train):
        vis.append_training_curves_data(i, 0.5, 50)
        vis.append_data_histograms(i, np.arange(10.0), np.arange(3.0))
        if test:
            vis.append_test_curves_data(i, 0.6, 40)
    return training_step


@pytest.mark.parametrize("where", ["movie", "png"])
def test_ctrl_c_while_writing_leaves_no_file_and_prints_the_summary(vis, tmp_path, monkeypatch, capsys, where):
    from PIL import Image
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    save = Image.Image.save                            # both files are written by Pillow, under a temporary name
    written = ".gif" if where == "movie" else ".png.part"
    monkeypatch.setattr(Image.Image, "save", lambda im, fp, *a, **k: interrupted() if str(fp).endswith(written)
                        else save(im, fp, *a, **k))
    vis.animate(step(vis), iterations=21, train_data_update_freq=10, test_data_update_freq=10)
    out = capsys.readouterr().out
    assert "while writing the outputs: that file was not saved" in out and "trained 21 iterations" in out
    assert os.listdir(tmp_path) == (["end.png"] if where == "movie" else ["m.gif"])


# -- a full disk, on a small tmpfs --------------------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the tests run as root in CI)")
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(folder)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", str(folder)])


@pytest.mark.parametrize("flag,name,what", [("--save-png", "end.png", "the PNG"),
                                            ("--save-movie", "m.mp4", "the movie")])
def test_a_full_disk_is_one_line_exit_1_and_no_file(full_disk, flag, name, what):
    proc = start("mnist_1.0_softmax.py", "--text", "--iterations", "201", flag, str(full_disk / name),
                 cwd=full_disk.parent)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out[-2000:] + err[-2000:]
    assert f"tensorflowvisu: could not write {what} {full_disk / name} (" in out and "nothing saved" in out
    assert "saved the movie" not in out and "saved the panels" not in out
    assert course.parse_run(out)["trained"][0] == 201 and course.parse_run(out)["max"] > 0.5   # the summary
    assert "Traceback" not in err and os.listdir(full_disk) == []
