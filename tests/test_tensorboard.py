"""--logdir: two steps' runs written as TensorBoard events, read back with TensorFlow's summary_iterator and
TensorBoard's own EventAccumulator, and served by a real `tensorboard` on a loopback port."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import course
from conftest import ROOT

STEPS = {"1.0_softmax": "mnist_1.0_softmax.py", "2.0_five_layers_sigmoid": "mnist_2.0_five_layers_sigmoid.py"}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """Three runs at once into one DIR: steps 1.0 and 2.0, and step 1.0 a second time."""
    folder = tmp_path_factory.mktemp("tb")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    runs = [("1.0_softmax", "mnist_1.0_softmax.py"), ("2.0_five_layers_sigmoid", "mnist_2.0_five_layers_sigmoid.py"),
            ("again", "mnist_1.0_softmax.py")]
    procs = {name: subprocess.Popen([sys.executable, os.path.join(ROOT, script), "--text", "--iterations", "101",
                                     "--logdir", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env, cwd=str(folder)) for name, script in runs}
    outs = {name: p.communicate(timeout=300) for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, outs[name][1][-2000:]
    out = {name: o for name, (o, e) in outs.items()}
    if "1.0_softmax-2" not in out["again"]:               # the two runs of 1.0 raced: whichever came second
        out["1.0_softmax"], out["again"] = out["again"], out["1.0_softmax"]
    return folder, out


def events(folder):
    import tensorflow as tf
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("events.out.tfevents")]
    assert len(files) == 1, files
    return list(tf.compat.v1.train.summary_iterator(files[0]))


def test_one_folder_per_run_named_after_the_step(logdir):
    folder, outs = logdir
    assert sorted(os.listdir(folder)) == ["1.0_softmax", "1.0_softmax-2", "2.0_five_layers_sigmoid"]
    assert f"this run goes to {folder / '1.0_softmax-2'}" in outs["again"]
    assert f"this run goes to {folder / '1.0_softmax'} " in outs["1.0_softmax"]
    assert f"tensorboard --logdir {folder}" in outs["again"]


def test_scalars_are_the_printed_figures(logdir):
    folder, outs = logdir
    for name in STEPS:
        scalars = {}
        for e in events(folder / name):
            for v in e.summary.value:
                if v.HasField("simple_value"):
                    scalars.setdefault(v.tag, []).append((e.step, v.simple_value))
        assert set(scalars) == {"accuracy/training", "accuracy/test", "loss/training", "loss/test"}
        printed = course.parse_run(outs[name])["test"]
        assert [s for s, _ in scalars["accuracy/test"]] == [i for i, _, _ in printed]
        assert np.allclose([a for _, a in scalars["accuracy/test"]], [a for _, a, _ in printed], atol=1e-6)
        assert np.allclose([c for _, c in scalars["loss/test"]], [c for _, _, c in printed], rtol=1e-5)
        assert scalars["accuracy/training"][0][0] == 0 and scalars["accuracy/training"][-1][0] == 100


def test_histograms_hold_every_weight_and_bias(logdir):
    folder, _ = logdir
    histos = {}
    graph = False
    for e in events(folder / "1.0_softmax"):
        graph = graph or bool(e.graph_def)
        for v in e.summary.value:
            if v.HasField("histo"):
                histos.setdefault(v.tag, []).append((e.step, v.histo))
    assert graph                                                        # the Graphs tab has the model
    assert set(histos) == {"weights", "biases"}
    step, w = histos["weights"][-1]
    assert step == 100 and w.num == 784 * 10 and sum(w.bucket) == w.num and w.min < 0 < w.max
    assert list(w.bucket_limit) == sorted(w.bucket_limit) and w.bucket_limit[-1] == pytest.approx(w.max)
    assert histos["biases"][0][1].num == 10
    assert histos["weights"][0][1].max == 0                              # step 1.0 starts from zeros


def test_tensorboard_reads_and_serves_both_steps(logdir):
    folder, _ = logdir
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = accumulator.EventAccumulator(str(folder / "2.0_five_layers_sigmoid"), size_guidance={"histograms": 0})
    acc.Reload()
    assert {"accuracy/test", "loss/training"} <= set(acc.Tags()["scalars"])
    assert {"weights", "biases"} <= set(acc.Tags()["histograms"])
    assert acc.Scalars("accuracy/test")[-1].step == 100
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(folder), "--host",
                              "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, runs = time.time() + 90, []
        while time.time() < deadline and len(runs) < 3:
            try:
                runs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=5).read())
            except OSError:
                pass
            time.sleep(0.5)
        assert sorted(runs) == ["1.0_softmax", "1.0_softmax-2", "2.0_five_layers_sigmoid"]
    finally:
        board.terminate()
        board.wait(30)
