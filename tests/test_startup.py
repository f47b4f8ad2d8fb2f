"""The start-up: the log of its stages (TFVISU_STARTUP_LOG), present when asked and absent and free otherwise."""
import json
import os
import subprocess
import sys

from conftest import ROOT, run_script

STAGES = ["tensorflowvisu", "flags", "read", "data", "graph", "vis", "session", "loop", "figures"]


def test_the_log_has_every_stage_in_order(tmp_path):
    log = tmp_path / "startup.json"
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "1", env={"TFVISU_STARTUP_LOG": str(log)})
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads(log.read_text())
    marks = record["marks"]
    assert [m for m in marks if m in STAGES] == STAGES, marks            # each stage, in its order
    assert list(marks.values()) == sorted(marks.values())
    assert "window" not in marks and "drawn" not in marks                # --text: no window
    assert record["process_start"] < marks["tensorflowvisu"] < record["process_start"] + 30
    assert record["data"]["folder"] == os.path.join(ROOT, "data")
    assert not [p for p in os.listdir(tmp_path) if p != "startup.json"]  # written under a temporary name, renamed


def test_without_the_variable_no_log_and_no_marks(tmp_path):
    code = ("import sys; sys.argv = ['mnist_x.py', '--text']; import tensorflowvisu; tensorflowvisu.flags(); "
            "from visualiser import startup; startup.mark('figures'); "
            "print(startup.LOG, startup._MARKS)")
    env = {k: v for k, v in os.environ.items() if k != "TFVISU_STARTUP_LOG"}
    env["PYTHONPATH"] = ROOT
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "None {}\n", r.stdout
    assert os.listdir(tmp_path) == []


def test_mark_does_nothing_unless_asked(monkeypatch):
    from visualiser import startup
    monkeypatch.setattr(startup, "LOG", None)
    monkeypatch.setattr(startup, "_MARKS", {})
    monkeypatch.setattr(startup.time, "perf_counter", lambda: 1 / 0)     # not even the clock is read
    startup.mark("figures")
    assert startup._MARKS == {}


def test_an_unwritable_log_is_one_line_and_the_run_goes_on(tmp_path):
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "1",
                   env={"TFVISU_STARTUP_LOG": str(tmp_path / "no" / "such" / "folder.json")})
    assert r.returncode == 0 and "max test accuracy" in r.stdout, r.stderr[-2000:]
    assert "TFVISU_STARTUP_LOG=" in r.stderr and "could not be written" in r.stderr and "Traceback" not in r.stderr


def test_a_run_reads_its_data_ahead_and_imports_tensorflow_without_keras(tmp_path):
    code = ("import sys; sys.argv = ['mnist_x.py', '--text']; import tensorflowvisu; tensorflowvisu.flags(); "
            "import mnistdata; print('tensorflow' in sys.modules, 'keras' in sys.modules, 'matplotlib' in sys.modules, "
            "len(mnistdata._AHEAD)); import tensorflow as tf; tf.keras.layers.Dense(3); import keras; "
            "print(keras.__version__[0])")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True", "False", "False", "1", "3"], r.stdout      # tf.keras and keras load later
