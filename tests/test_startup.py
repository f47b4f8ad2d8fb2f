"""The start-up: the log of its stages (TFVISU_STARTUP_LOG), present when asked and absent and free otherwise; the
run's data read ahead and TensorFlow imported without Keras; benchmarks/startup.py, from canned marks and one run."""
import json
import os
import subprocess
import sys

import pytest

import startup as bench  # benchmarks/startup.py
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


def test_a_run_reads_its_data_ahead_and_imports_tensorflow_without_keras_or_the_collector(tmp_path):
    code = ("import sys; sys.argv = ['mnist_x.py', '--text']; import tensorflowvisu; tensorflowvisu.flags(); "
            "import mnistdata, gc, builtins; print('tensorflow' in sys.modules, 'keras' in sys.modules, "
            "'matplotlib' in sys.modules, len(mnistdata._AHEAD), gc.isenabled(), gc.get_freeze_count() > 100000, "
            "type(builtins.compile).__name__); import tensorflow as tf; "
            "tf.keras.layers.Dense(3); import keras; print(keras.__version__[0])")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True", "False", "False", "1", "True", "True", "builtin_function_or_method", "3"], \
        r.stdout
    # TensorFlow without Keras or matplotlib, the data on its way, the collector on again with TensorFlow's
    # objects frozen, compile() itself again; tf.keras and keras load when asked for


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the library file and its flags are Linux's")
@pytest.mark.parametrize("bind_now", [False, True])
def test_tensorflows_first_library_is_loaded_ahead_with_lazy_binding_unless_ld_bind_now(tmp_path, bind_now):
    code = ("import os; from visualiser import startup; startup.import_tensorflow(); "
            "from tensorflow.python.platform import _pywrap_cpu_feature_guard as g; "
            "print([os.path.samefile(lib._name, g.__file__) for lib in startup._LAZY])")
    env = {k: v for k, v in os.environ.items() if k != "LD_BIND_NOW"}
    env.update(PYTHONPATH=ROOT, **({"LD_BIND_NOW": "1"} if bind_now else {}))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == (["[]"] if bind_now else ["[True]"]), r.stdout
    # loaded ahead: the very file the import then used (so no second copy); not under LD_BIND_NOW, which asks
    # for every symbol bound at load


FAKE_CUDA_TENSORFLOW = """import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796479216.273941   20054 cudart_stub.cc:31] Could not find cuda drivers on your "
            b"machine, GPU will not be used.\\n")
os.write(2, b"E0000 00:00:1796479222.6 21106 some_op.cc:12] a real error, which passes\\n")
class config:
    def list_physical_devices():
        os.write(2, b"E0000 00:00:1796479222.591524   21106 cuda_platform.cc:52] failed call to cuInit: "
                    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\\n")
        return []
"""


def test_a_steps_tensorflow_import_drops_the_cuda_wheels_start_up_lines_and_nothing_else(tmp_path):
    # a stand-in for the `tensorflow` wheel (CUDA-built) on a machine without an NVIDIA driver: it writes
    # its lines to file descriptor 2 as the C++ libraries do (the real ones: test_mlengine_predict.py)
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_CUDA_TENSORFLOW)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    done = subprocess.run([sys.executable, "-c", "from visualiser import quiet, startup\n"
                           "quiet.nvidia_driver = lambda: False\nstartup.import_tensorflow()"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.splitlines() == [
        "E0000 00:00:1796479222.6 21106 some_op.cc:12] a real error, which passes"], done.stderr


def test_compile_once_shares_an_expressions_code_and_passes_the_rest_on():
    from visualiser import startup
    first = startup._compile_once("_atypes.Float32", "<string>", "eval")
    assert startup._compile_once("_atypes.Float32", "<string>", "eval") is first
    assert eval(first, {"_atypes": type("T", (), {"Float32": 32})}) == 32
    assert startup._compile_once("x = 1", "<string>", "exec") is not startup._compile_once("x = 1", "<string>", "exec")
    with pytest.raises(SyntaxError):
        startup._compile_once("not an expression =", "<string>", "eval")


# -- benchmarks/startup.py: its statistics on canned marks, its flags, one real run -------------------------
MARKS = {"tensorflowvisu": 100.1, "flags": 100.3, "tensorflow": 101.9, "read": 102.0, "data": 102.05,
         "graph": 102.25, "vis": 102.3, "session": 102.35, "loop": 102.36, "figures": 102.5}


def test_the_parts_add_up_to_the_start_up():
    p = bench.parts(MARKS, launch=100.0, line=102.51)
    assert p["interpreter"] == 0.1 and p["imports"] == 1.9 and p["tensorflow"] == 1.6 and p["data"] == 0.05
    assert p["graph"] == 0.2 and p["device"] == 0.05 and p["session"] == 0.05 and p["window"] == 0.01
    assert p["first step"] == 0.15 and p["drawn"] is None and p["total"] == 2.51
    assert sum(p[n] for n, _, _ in bench.PARTS if p[n] is not None) == pytest.approx(p["total"])
    window = bench.parts(dict(MARKS, window=102.36, loop=102.8), launch=100.0, line=103.0, drawn=103.4)
    assert window["window"] == 0.45 and window["drawn"] == 0.4 and window["total"] == 3.4    # the later end
    assert bench.parts(MARKS, 100.0, 102.5, drawn=103.4, cpu={"figures": 2.0, "drawn": 2.6})["cpu"] == 2.6
    assert bench.parts(MARKS, 100.0, 102.5, cpu={"figures": 2.0, "drawn": 2.6})["cpu"] == 2.0    # --text: no picture
    early = bench.parts(dict(MARKS, window=102.36), launch=100.0, line=103.0, drawn=102.9)
    assert early["drawn"] == 0.0 and early["total"] == 3.0           # drawn before the line: the line ends it


def test_to_an_accuracy_the_wait_runs_on_to_that_test():
    p = bench.parts(MARKS, launch=100.0, line=102.51, reached=106.01)
    assert p["first step"] == 0.15 and p["training"] == 3.5 and p["total"] == 6.01 and p["drawn"] is None
    assert sum(p[n] for n, _, _ in bench.PARTS if p[n] is not None) == pytest.approx(p["total"])
    window = bench.parts(dict(MARKS, window=102.36), launch=100.0, line=102.51, drawn=102.9, reached=106.01)
    assert window["drawn"] == 0.0 and window["total"] == 6.01            # drawn long before the test
    assert bench.parts(MARKS, launch=100.0, line=102.51)["training"] is None
    rows = [{"step": "5.0", "mode": "text", "tree": "this tree (def)", "parts": bench.summarise([p])}]
    assert "to the first test >= 99.00% s" in bench.table(rows, 0.99) and "training" in bench.table(rows, 0.99)
    assert "training" not in bench.table(rows) and "start-up s" in bench.table(rows)


def test_a_commit_without_the_log_gives_its_total_alone():
    p = bench.parts({}, launch=50.0, line=55.5)
    assert p["total"] == 5.5 and all(p[n] is None for n, _, _ in bench.PARTS)


def test_summaries_shares_and_the_table():
    runs = [bench.parts(MARKS, 100.0, line, cpu={"figures": c})
            for line, c in ((102.6, 2.1), (102.4, 2.0), (103.0, 2.3))]
    s = bench.summarise(runs)
    assert s["total"] == {"median": 2.6, "min": 2.4, "max": 3.0} and s["drawn"] == {}
    base = bench.summarise([bench.parts({}, 0.0, t) for t in (5.0, 5.4, 5.2)])
    assert bench.share(s, base) == 0.5 and bench.share(s, None) is None
    text = bench.table([{"step": "1.0", "mode": "text", "tree": "base (abc)", "parts": base},
                        {"step": "1.0", "mode": "text", "tree": "this tree (def)", "parts": s, "share": 0.5}])
    assert "| 1.0 | text | base (abc) | 5.20 (5.00-5.40) |  | - | - | - |" in text
    assert "| 1.0 | text | this tree (def) | 2.60 (2.40-3.00) | 50% | 2.10 | 0.10 | 1.90 (1.60) | 0.05 | 0.20 |" in text


@pytest.mark.parametrize("argv,message", [
    (["--steps", "9.9"], "unknown step 9.9"), (["--runs", "0"], "--runs must be at least 1"),
    (["--base", "no-such-commit"], "--base no-such-commit: not a commit"), (["--modes", "web"], "invalid choice"),
    (["--base", "HEAD", "--base-env", "PYTHONPATH"], "--base-env PYTHONPATH: give NAME=VALUE"),
    (["--base-env", "A=1"], "--base-env is for the base's runs: give --base COMMIT too"),
    (["--to", "99"], "--to 99: give an accuracy between 0.5 and 1, e.g. 0.99"), (["--to", "x"], "invalid float")])
def test_bad_benchmark_flags_are_one_line(argv, message, tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "startup.py"), *argv, "--out",
                        str(tmp_path / "s.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "s.json")


@pytest.mark.slow
def test_the_wait_to_an_accuracy_runs_the_step_on_to_its_test(tmp_path):
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "startup.py"), "--steps", "1.0", "--modes",
                        "text", "--runs", "1", "--to", "0.9", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| to the first test >= 90.00% s, median (min-max) |" in r.stdout and "1.0 text   this tree" in r.stdout
    saved = json.loads(out.read_text())["measurements"][-1]
    run, = saved["runs"][0]["runs"]
    assert saved["to"] == 0.9 and run["training"] > 0 and run["total"] > run["training"] + run["first step"]


@pytest.mark.slow
def test_the_benchmark_against_a_commit_in_text_and_a_window(tmp_path):
    """One run of each (the timings are not checked: a benchmark's, not a test's): both trees, both displays,
    the parts from this tree's log, the temporary worktree and Xvfb gone afterwards."""
    import shutil
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is needed (.ci/run installs it)")
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "startup.py"), "--base", "HEAD", "--steps",
                        "1.0", "--runs", "1", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("machine: ") and "at most half of the base's start-up:" in r.stdout
    rows = json.loads(out.read_text())["measurements"][-1]["rows"]
    assert [(row["mode"], row["tree"].split()[0]) for row in rows] == [("text", "base"), ("text", "this"),
                                                                      ("window", "base"), ("window", "this")]
    for row in rows:
        assert row["parts"]["first step"]["median"] > 0 and row["parts"]["tensorflow"]["median"] > 0
    assert rows[3]["parts"]["drawn"] and not rows[1]["parts"]["drawn"] and rows[1]["share"] > 0
    assert "startup-base-" not in subprocess.run(["git", "-C", ROOT, "worktree", "list"], capture_output=True,
                                                 text=True).stdout
