"""The tutor's pieces against what they must say: the exercises' marks against the diffs of the step scripts,
the learner's file, TensorFlow's error messages turned into one line, the diagnoses of printed runs, and the
wording of two networks' differences. Standard library only, no TensorFlow: fast."""
import difflib
import os
import subprocess
import sys

import pytest

import course
from conftest import ROOT
from tutor import check, diagnose, errors, exercise
from tutor.tasks import EXERCISES, WHY

ORDER = course.steps()
NEAR = 9           # a mark may stand this many lines above the change it is about (the first of a block)


def code_hunks(old, new):
    """(first line, last line) in `old` of every change to code (comment-only changes left out)."""
    code = lambda lines: [x for x in lines if x.strip() and not x.strip().startswith("#")]  # noqa: E731
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag != "equal" and (code(old[i1:i2]) or code(new[j1:j2])):
            out.append((i1, max(i1, i2 - 1)))
    return out


@pytest.mark.parametrize("step", list(EXERCISES))
def test_every_change_of_the_lesson_has_a_mark_near_it(step):
    prev = course.against(step, ORDER)
    old, new = (open(os.path.join(ROOT, ORDER[s])).read().splitlines() for s in (prev, step))
    marks = exercise.places(old, EXERCISES[step]["marks"])     # where exercise.make puts them, in the old script
    for first, last in code_hunks(old, new):
        assert any(first - NEAR <= m <= last + 3 for m in marks), (step, first + 1, old[first])
    exercise.make(step, "t", prev, "\n".join(old) + "\n", EXERCISES[step], "my.py", ROOT)     # every anchor found


def test_an_exercise_file_names_its_step_and_finds_the_repository(tmp_path):
    text = exercise.make("2.2", "dropout", "2.1", open(os.path.join(ROOT, ORDER["2.1"])).read(), EXERCISES["2.2"],
                         "my_2.2.py", ROOT)
    first, *rest = text.splitlines()
    assert first == '# Exercise 2.2 of "TensorFlow and deep learning, without a PhD": dropout.'
    assert exercise.PATH_LINE.format(root=ROOT) in text.splitlines() and "python3 course.py check my_2.2.py" in text
    assert text.count("# EXERCISE: ") == len(EXERCISES["2.2"]["marks"])
    assert all(len(line) <= 120 for line in rest if line.startswith("# EXERCISE") or line.startswith("#   "))
    path = tmp_path / "anything.py"
    path.write_text(text)
    assert exercise.step_of(str(path)) == "2.2"
    (tmp_path / "my_3.1.py").write_text("print(1)\n")
    assert exercise.step_of(str(tmp_path / "my_3.1.py")) == "3.1"
    assert exercise.step_of(str(tmp_path / "absent.py")) is None
    with pytest.raises(ValueError, match="is not in the script"):
        exercise.make("2.2", "dropout", "2.1", "print(1)\n", EXERCISES["2.2"], "my.py", ROOT)


def test_write_is_whole_or_nothing_and_keeps_what_was_there(tmp_path):
    path = str(tmp_path / "my.py")
    assert exercise.write(path, "one\n") == f"wrote {path}"
    with pytest.raises(FileExistsError):
        exercise.write(path, "two\n")
    assert open(path).read() == "one\n"
    exercise.write(path, "two\n", force=True)
    assert open(path).read() == "two\n" and open(path + ".bak").read() == "one\n"
    assert sorted(os.listdir(tmp_path)) == ["my.py", "my.py.bak"]


MATMUL = ("Dimensions must be equal, but are 100 and 60 for '{{node MatMul_2}} = MatMul[T=DT_FLOAT, "
          "grad_a=false, grad_b=false, transpose_a=false, transpose_b=false](Sigmoid_1, Variable_4/read)' with "
          "input shapes: [?,100], [60,100].")
CONV = ("Depth of input (1) is not a multiple of input depth of filter (4) for '{{node Conv2D}} = Conv2D[T=DT_FLOAT, "
        "data_format=\"NHWC\", dilations=[1, 1, 1, 1], explicit_paddings=[], padding=\"SAME\", strides=[1, 1, 1, "
        "1], use_cudnn_on_gpu=true](Placeholder, Variable/read)' with input shapes: [?,28,28,1], [5,5,4,8].")


def test_tensorflows_messages_in_the_learners_names():
    names = {"Sigmoid_1": "Y2", "Variable_4": "W3", "Placeholder": "X", "Variable": "W1", "Placeholder_3": "pkeep"}
    assert errors.meaning(ValueError(MATMUL), names) == (
        "the shapes do not fit: tf.matmul multiplies Y2 [batch, 100] and W3 [60, 100]; W3's first dimension must "
        "equal Y2's last (the width of the layer before)")
    said = errors.meaning(ValueError(CONV), names)
    assert said.startswith("the shapes do not fit: the convolution slides W1 over X [batch, 28, 28, 1]")
    assert "W1 [5, 5, 4, 8]" in said
    unfed = type("InvalidArgumentError", (Exception,), {})
    said = errors.meaning(unfed("Graph execution error:\n\nYou must feed a value for placeholder tensor "
                                "'Placeholder_3' with dtype float"), names)
    assert said.startswith("sess.run needs a value for pkeep, which this feed_dict does not give")
    assert "1600 answers for a batch of 100" in errors.meaning(
        unfed("logits and labels must be broadcastable: logits_size=[1600,10] labels_size=[100,10]"), names)
    # the same fault met first at the accuracy's tf.equal (as TensorFlow 2.21 says it on an AVX-512 Xeon)
    at_equal = ("Graph execution error:\n\nDetected at node 'Equal' defined at (most recent call last):\n    File "
                "\"my_3.0.py\", line 83, in <module>\nNode: 'Equal'\nIncompatible shapes: [1600] vs. [100]\n\t "
                "[[{{node Equal}}]]\n\nOriginal stack trace for 'Equal':\n  File \"my_3.0.py\", line 83, in <module>\n")
    assert "1600 answers for a batch of 100" in errors.meaning(unfed(at_equal), names)
    said = errors.meaning(type("InvalidArgumentError", (Exception,), {"__module__": "tensorflow.errors"})(
        at_equal.replace("[1600] vs. [100]", "[100] vs. [30]")), names)
    assert said == "TensorFlow: Incompatible shapes: [100] vs. [30]", said      # past the headings and the stack
    assert errors.meaning(NameError("name 'lr' is not defined"), {}) == (
        "NameError: name 'lr' is not defined (a name used before it is defined (a typo, or a line that moved below "
        "its use))")


def run_of(test, train=()):
    return {"train": list(train), "test": list(test)}


def test_diagnoses_of_printed_runs():
    nan = float("nan")
    found = diagnose.diagnose(run_of([(0, 0.1, 230.0), (100, 0.9, 40.0), (200, 0.098, nan)]), None, "2.2",
                              {"layers": [], "loss": {"kind": "log(softmax)"}})
    assert found[0] == (True, "NaN: the loss is NaN from iteration 200 on, and the network stops learning: your loss "
                              "takes the log of a softmax: once a probability underflows to 0, log(0) is -inf; "
                              "compute it from the logits (tf.nn.softmax_cross_entropy_with_logits_v2)")
    zeros = {"layers": [{"weights": w, "init": {"const": 0.0}} for w in ("W1", "W2")], "loss": {"kind": "logits"}}
    found = diagnose.diagnose(run_of([(i, 0.1135, 230.0) for i in range(0, 301, 100)]), None, "2.0", zeros)
    assert found[0] == (True, "stuck near chance (10% for ten digits): 11.3% at best in 301 iterations: W1 and W2 "
                              "start at zero: every neuron of a layer then computes and learns the same thing; start "
                              "the weights random (tf.truncated_normal(shape, stddev=0.1))")
    assert not diagnose.diagnose(run_of([(0, 0.1, 230.0), (200, 0.75, 90.0)]), None, "2.0")[0][0]   # a slow start
    climbing = [(i, 0.97, 9.0 if i < 4000 else 9.0 + (i - 4000) / 500) for i in range(0, 10001, 500)]
    falling = [(i, 0.99, 10.0 - i / 1100) for i in range(0, 10001, 500)]
    found = diagnose.diagnose(run_of(climbing, falling), None, "2.1")
    assert found[0][1].startswith("overfitting: the test loss rose from 9 at iteration 2,000 to 21 while the "
                                  "training loss kept falling")


def recorded(*curves):
    """A reference as benchmarks/tutor_curves.py writes it: one run per seed, {"train", "test"}."""
    return {"iterations": 3000, "runs": {str(k): {"train": train, "test": test} for k, (train, test) in
                                         enumerate(curves)}}


def learning(at_end, midway=0.002, last=2999):
    """A graph summary's learning rates, fed at iterations 0, midway and last."""
    return {"feeds": {"train": [{"i": 0, "ran": True, "lr": 0.003}, {"i": last // 2, "ran": True, "lr": midway},
                                {"i": last, "ran": True, "lr": at_end}]}}


def test_noisier_and_on_track_against_the_step():
    tests = [(i, 0.96 + i / 1e6, 10.0) for i in range(0, 3000, 100)] + [(2999, 0.975, 9.0)]
    calm = [(i, 0.98, 5.0 + (i % 40) / 20) for i in range(0, 3000, 20)]         # the loss moves 1.0 a line
    jumpy = [(i, 0.98, 5.0 + (i % 40) / 15) for i in range(0, 3000, 20)]        # 1.33 a line
    seed1 = [(i, a - 0.003, c) for i, a, c in tests]
    reference = recorded((calm, tests), (calm, seed1))
    fixed = learning(0.003, 0.003)
    found = diagnose.diagnose(run_of(tests, jumpy), reference, "2.1", fixed, None, learning(0.0008))
    assert found == [
        (True, "noisier than the step's: over the second half of the run your training loss moves 1.33 from one "
               "printed line to the next, the step's 1.00-1.00 (seeds 0-1): a learning rate that does not decay "
               "keeps it jumping"),
        (False, "on track: 97.50% at iteration 2,999, the step had 97.50% (its recorded run, seed 0; 97.20%-97.50% "
                "over seeds 0-1)")]
    calmer = diagnose.diagnose(run_of(tests, calm), reference, "2.1", learning(0.0008), None, learning(0.0008))
    assert [line for _, line in calmer][0].startswith("on track")
    short = [t for t in tests if t[0] <= 1000]
    early = diagnose.diagnose(run_of(short, jumpy), reference, "2.1", learning(0.003, 0.003, 1000), None,
                              learning(0.0019, 0.0024, 1000))      # 1,000 iterations: the step's rate still high
    assert early[0] == (False, "a learning rate that does not decay shows late in a run, as a noisier curve: "
                               "--iterations 3000 trains far enough to see it")
    behind = [(i, a - 0.01, c) for i, a, c in tests]
    assert diagnose.diagnose(run_of(behind, calm), reference, "2.1")[-1] == (
        True, "behind: 96.50% at iteration 2,999, the step had 97.50% (its recorded run, seed 0; 97.20%-97.50% "
              "over seeds 0-1)")
    assert diagnose.diagnose(run_of(short, calm), reference, "2.1")[-1][1].startswith("on track: 96.10% at "
                                                                                      "iteration 1,000, the step had")


def dense(name, shape, activation, init=None, bias=0.1, **extra):
    return dict(kind="dense", weights=name, shape=shape, init=init or {"sd": 0.088}, towers=1, input=shape[:1],
                activation=activation, pool=None, batchnorm=False, scale=[], dropout=None,
                bias=[{"name": "B" + name[1:], "shape": shape[1:], "init": {"const": bias}}], **extra)


def network(layers, lr=(0.003, 0.0024, 0.0019), loss="logits", test_keep=None):
    feeds = {"train": [{"i": i, "ran": True, "unfed": [], "lr": v} for i, v in zip((0, 500, 999), lr)],
             "test": [{"i": 0, "ran": True, "unfed": [], "lr": None}]}
    if test_keep is not None:
        for p in feeds["train"]:
            p["keep"] = 0.75
        feeds["test"][0]["keep"] = test_keep
    return {"layers": layers, "loss": {"kind": loss, "weight_decay": False, "labels_changed": False},
            "optimiser": {"name": "Adam", "nesterov": None, "lr_fed": ["lr"]}, "averages": [], "feeds": feeds}


def test_two_networks_compared_in_words():
    step = network([dense("W1", [784, 200], "ReLU"), dense("W2", [200, 10], "softmax", bias=0.0)])
    assert check.differences(step, step) == [] and check.same(step, step)
    mine = network([dense("W1", [784, 200], "sigmoid", init={"const": 0.0}, bias=0.0),
                    dense("W2", [200, 10], "softmax", bias=0.0)], lr=(0.003, 0.003, 0.003), loss="log(softmax)")
    said = {aspect: (text, why) for aspect, text, why in check.differences(mine, step)}
    assert said["activations"] == ("after W1: yours sigmoid, the step's ReLU", "sigmoid")
    assert said["loss"] == ("your loss: log(softmax); the step's: from the logits", "log(softmax)")
    assert said["learning rate"] == ("yours at iterations 0, 500 and 999: 0.003, 0.003, 0.003; the step's: 0.003, "
                                     "0.0024, 0.0019", "decay")
    assert [t for a, t, _ in check.differences(mine, step) if a == "starting values"] == [
        "W1 start at 0; the step's at random (sd 0.09)", "B1 start at 0; the step's at 0.1"]
    fewer = network([dense("W1", [784, 10], "softmax")])
    assert check.differences(fewer, step)[0] == (
        "layers", "you have 1 weight matrices, W1 [784, 10]; the step has 2: W1 [784, 200] and W2 [200, 10]", None)
    lines = check.report(mine, step, "2.1")
    assert lines[2] == "matches: layers, optimiser, feeds" and lines[3] == "differs:"
    assert sum(WHY["init"] in line for line in lines) == 1


def test_the_probe_is_an_entry_point_too():
    probe = os.path.join(ROOT, "tutor", "probe.py")
    r = subprocess.run([sys.executable, probe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "course.py check" in r.stdout
    r = subprocess.run([sys.executable, probe, "my.py"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "the following arguments are required: --iterations" in r.stderr


def test_the_training_deadline_follows_the_steps_recorded_run(tmp_path, monkeypatch):
    """Each step's check may train for twice its reference run of that length (recorded on a loaded machine)
    plus cli.BUILD: a convolutional step gets minutes, a dense one about two; no reference, ten minutes."""
    from tutor import cli
    for step, task in EXERCISES.items():
        ref = cli.recorded(step)
        needed = ref["runs"]["0"]["training_s"] * task["iterations"] / ref["iterations"]
        assert cli.training_time(step, task["iterations"]) >= cli.BUILD + cli.SLACK * needed - 1, step
    assert cli.training_time("3.1", 601) > 3 * cli.BUILD
    monkeypatch.setattr(cli, "CURVES", str(tmp_path / "none.json"))
    assert cli.recorded("2.1") is None and cli.training_time("2.1", 1001) == 5 * cli.BUILD
