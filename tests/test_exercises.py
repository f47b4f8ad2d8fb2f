"""The exercises (course.py STEP --exercise) and their check (course.py check FILE), through the command line:
every step's exercise completed as its lesson says passes; typical wrong attempts each get their own
diagnosis; bad input gets one line and loses nothing. The pieces (marks, files, errors, diagnoses) have
tests of their own in test_tutor.py.

A completion is a scripted edit of the exercise file where the lesson is a few lines (2.1, 2.2, 3.1, 4.1),
written the way a learner would rather than copied from the step; where the lesson rewrites the network (2.0,
3.0, 4.0, 4.2, 5.0) it is the step's own script under the exercise's header line."""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import course
from conftest import ROOT
from tutor import exercise as exercise_file

ORDER = course.steps()
LONG = {"3.0", "3.1", "4.2", "5.0"}           # their training: over 10 s a check on a 2-core AVX2 machine


def run(*args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, os.path.join(ROOT, "course.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def sub(text, old, new, count=1):
    """text with `old` replaced: `old` must be there `count` times (a changed step script fails here, loudly)."""
    assert text.count(old) == count, (old, text.count(old))
    return text.replace(old, new)


def exercise(step, folder, name=None):
    r = run(step, "--exercise", *(["--out", name] if name else []), cwd=folder)
    assert r.returncode == 0, r.stderr
    path = os.path.join(folder, name or f"my_{step}.py")
    return path, open(path).read()


def by_the_step(step, text):
    """The exercise file's header over the step's own script."""
    return exercise_file.under_header(text, open(os.path.join(ROOT, ORDER[step])).read())


def relu_decay(text):
    """Lesson 2.1 on step 2.0's script."""
    text = sub(text, "import mnistdata\n", "import mnistdata\nimport math\n")
    text = sub(text, "Y_ = tf.placeholder(tf.float32, [None, 10])\n",
               "Y_ = tf.placeholder(tf.float32, [None, 10])\nlr = tf.placeholder(tf.float32)\n")
    for k, n in zip("1234", "LMNO"):
        text = sub(text, f"B{k} = tf.Variable(tf.zeros([{n}]))", f"B{k} = tf.Variable(tf.ones([{n}]) / 10)")
    text = sub(text, "tf.nn.sigmoid(", "tf.nn.relu(", 4)
    text = sub(text, "tf.train.AdamOptimizer(0.003)", "tf.train.AdamOptimizer(lr)")
    text = sub(text, "    batch_X, batch_Y = mnist.train.next_batch(100)\n",
               "    batch_X, batch_Y = mnist.train.next_batch(100)\n"
               "    learning_rate = 0.0001 + 0.0029 * math.exp(-i / 2000)\n")
    return sub(text, "sess.run(train_step, feed_dict={X: batch_X, Y_: batch_Y})",
               "sess.run(train_step, feed_dict={X: batch_X, Y_: batch_Y, lr: learning_rate})")


def dropout(text, layers):
    """Lesson 2.2 (layers 1-4) or 3.1's dropout (layer 4) on a script with lr and a training step."""
    text = sub(text, "lr = tf.placeholder(tf.float32)\n", "lr = tf.placeholder(tf.float32)\npkeep = tf.placeholder("
                                                          "tf.float32)\n")
    for k in layers:
        line = re.search(rf"^Y{k} = tf.nn.relu\(.*\)\n", text, re.M).group()
        text = sub(text, line, line + f"Y{k}d = tf.nn.dropout(Y{k}, rate=1 - pkeep)\n")
        text = sub(text, f"tf.matmul(Y{k}, W{k + 1})", f"tf.matmul(Y{k}d, W{k + 1})")
    text = sub(text, "feed_dict={X: batch_X, Y_: batch_Y})", "feed_dict={X: batch_X, Y_: batch_Y, pkeep: 1.0})")
    text = sub(text, "Y_: mnist.test.labels})", "Y_: mnist.test.labels, pkeep: 1.0})")
    return sub(text, "lr: learning_rate})", "lr: learning_rate, pkeep: 0.75})")


def bigger(text):
    """Lesson 3.1 on step 3.0's script."""
    text = sub(text, "K = 4  #", "K = 6  #")
    text = sub(text, "L = 8  #", "L = 12  #")
    text = sub(text, "M = 12  #", "M = 24  #")
    text = sub(text, "tf.truncated_normal([5, 5, 1, K]", "tf.truncated_normal([6, 6, 1, K]")
    return dropout(text, [4])


def no_scale(text):
    """Lesson 4.1 on step 4.0's script."""
    for k, n in zip("1234", "LMNO"):
        text = sub(text, f"S{k} = tf.Variable(tf.ones([{n}]))\nB{k} = tf.Variable(tf.zeros([{n}]))",
                   f"B{k} = tf.Variable(tf.ones([{n}]) / 10)")
        text = sub(text, f"batchnorm(Y{k}l, tst, iter, B{k}, S{k})", f"batchnorm(Y{k}l, tst, iter, B{k})")
        text = sub(text, f"Y{k} = tf.nn.sigmoid(Y{k}bn)", f"Y{k} = tf.nn.relu(Y{k}bn)")
    text = sub(text, "def batchnorm(Ylogits, is_test, iteration, offset, scale):",
               "def batchnorm(Ylogits, is_test, iteration, offset):")
    text = sub(text, "ExponentialMovingAverage(0.998, iteration)", "ExponentialMovingAverage(0.999, iteration)")
    return sub(text, "offset, scale, bnepsilon)", "offset, None, bnepsilon)")


EDITS = {"2.1": relu_decay, "2.2": lambda t: dropout(t, [1, 2, 3, 4]), "3.1": bigger, "4.1": no_scale}


def completed(step, folder):
    path, text = exercise(step, folder)
    open(path, "w").write(EDITS[step](text) if step in EDITS else by_the_step(step, text))
    return path


def check(folder, name, *args):
    r = run("check", name, *args, "--timeout", "900", cwd=folder)      # a busy CI machine is not a hung file
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r


def steps_with_exercises():
    from tutor.tasks import EXERCISES
    return list(EXERCISES)


def attempt(step, folder, *edits, name=None):
    """The step completed, then spoiled by (old, new) edits: a learner's typical slip."""
    path = completed(step, folder)
    text = open(path).read()
    for old, new in edits:
        text = sub(text, old, new, text.count(old) or 1)
    target = os.path.join(folder, name or os.path.basename(path))
    open(target, "w").write(text)
    return os.path.basename(target)


def another_steps_solution(folder):
    path, text = exercise("2.1", folder)
    open(path, "w").write(by_the_step("2.2", text))
    return os.path.basename(path)


def left_as_written(folder):
    return os.path.basename(exercise("2.2", folder)[0])


def zero_weights(folder):
    return attempt("2.0", folder, *((f"tf.truncated_normal([{shape}], stddev=0.1)", f"tf.zeros([{shape}])")
                                    for shape in ("784, L", "L, M", "M, N", "N, O", "O, 10")))


LOG_OF_SOFTMAX = ("cross_entropy = tf.nn.softmax_cross_entropy_with_logits_v2(logits=Ylogits, labels=Y_)",
                  "cross_entropy = -tf.reduce_sum(Y_ * tf.log(Y), 1)")


# Step 5.0 the way 4.2 builds batch norm: one network whose batch norm a tf.cond switches to the averages when a
# tst placeholder says so, where the step builds a training copy and a testing copy over the same weights
SWITCHED = (
    ("iter = tf.placeholder(tf.int32)\n", "iter = tf.placeholder(tf.int32)\ntst = tf.placeholder(tf.bool)\n"),
    ("""    if testing:
        Ybn, _, _ = tf.nn.fused_batch_norm(Ylogits, ones, offset, mean_avg, variance_avg, 1e-5, is_training=False)
        return Ybn, mean_avg, variance_avg
    return tf.nn.fused_batch_norm(Ylogits, ones, offset, epsilon=1e-5, is_training=True)""",
     """    def for_training():
        return tf.nn.fused_batch_norm(Ylogits, ones, offset, epsilon=1e-5, is_training=True)

    def for_testing():
        Ybn, _, _ = tf.nn.fused_batch_norm(Ylogits, ones, offset, mean_avg, variance_avg, 1e-5, is_training=False)
        return Ybn, mean_avg, variance_avg
    return tf.cond(tst, for_testing, for_training)"""),
    ("Ylogits_test = tf.concat([logits for logits, _ in towers_of(Xcrop, testing=True)], 0)", "Ylogits_test = Ylogits"),
    ("Y_test = tf.nn.softmax(Ylogits_test)", "Y_test = Y"),
    ("Y_: mnist.test.labels[s:s + 1000]})", "Y_: mnist.test.labels[s:s + 1000], tst: True})"),
    ("lr: learning_rate, iter: i}", "lr: learning_rate, tst: False, iter: i}"))


def written(name, text):
    def write(folder):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
        return name
    return write


# Every check the tests below read: (the file, made in a folder of its own; the check's flags). Each is a whole
# `course.py check` through the command line, and most of its time is TensorFlow's import and the graphs, so
# they run side by side, one per core, once for the module. Training only where the case needs a run: the
# dense steps' completions (120 iterations, an "on track"), zero weights (stuck after 200), log(softmax) (its
# NaN comes at iteration 460-660 of step 2.2, seeds 0-3), stride 1 (its first step fails); the convolutional
# steps' runs are the accuracy gates further down (slow).
CASES = {
    **{f"completed {s}": (lambda folder, s=s: os.path.basename(completed(s, folder)),
                          ["--no-train"] if s in LONG else ["--iterations", "120"]) for s in steps_with_exercises()},
    "missing layer": (lambda folder: attempt("2.0", folder, (
        "W5 = tf.Variable(tf.truncated_normal([O, 10]", "W5 = tf.Variable(tf.truncated_normal([N, 10]"),
        ("Y4 = tf.nn.sigmoid(tf.matmul(Y3, W4) + B4)\n", ""), ("tf.matmul(Y4, W5)", "tf.matmul(Y3, W5)")),
        ["--no-train"]),
    "sigmoid in 2.1": (lambda folder: attempt("2.1", folder, ("tf.nn.relu(", "tf.nn.sigmoid(")), ["--no-train"]),
    "no decay": (lambda folder: attempt("2.1", folder, ("lr: learning_rate})", "lr: 0.003})")), ["--no-train"]),
    "zero weights": (zero_weights, ["--iterations", "201"]),
    "log of softmax": (lambda folder: attempt("2.2", folder, LOG_OF_SOFTMAX), ["--iterations", "1000"]),
    "dropout when testing": (lambda folder: attempt("2.2", folder, (
        "Y_: mnist.test.labels, pkeep: 1.0})", "Y_: mnist.test.labels, pkeep: 0.75})")), ["--no-train"]),
    "stride 1": (lambda folder: attempt("3.0", folder, ("stride = 2  #", "stride = 1  #")), ["--iterations", "20"]),
    "shape error": (lambda folder: attempt("2.0", folder, (
        "W3 = tf.Variable(tf.truncated_normal([M, N]", "W3 = tf.Variable(tf.truncated_normal([N, M]")),
        ["--no-train"]),
    "5.0 with 4.2's switch": (lambda folder: attempt("5.0", folder, *SWITCHED), ["--no-train"]),
    "another step's solution": (another_steps_solution, ["--no-train"]),
    "left as written": (left_as_written, ["--no-train"]),
    "no network": (written("my_2.1.py", "print('my network, one day')\n"), []),
    "never finishes": (written("my_2.1.py", "while True:\n    pass\n"), ["--timeout", "3"]),
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """{case: (its folder, its file's name, the files before the check, the check's CompletedProcess)}."""
    made = {}
    for case, (make, _) in CASES.items():
        folder = str(tmp_path_factory.mktemp(re.sub(r"\W+", "_", case)))
        name = make(folder)
        made[case] = folder, name, snapshot(folder)

    def one(case):
        folder, name, _ = made[case]
        flags = CASES[case][1]
        return run("check", name, *flags, *([] if "--timeout" in flags else ["--timeout", "900"]), cwd=folder)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = dict(zip(made, pool.map(one, made)))
    return {case: (*made[case], done[case]) for case in made}


def result(checked, case):
    folder, name, before, r = checked[case]
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert snapshot(folder) == before                               # nothing of the learner's changed
    return name, r


@pytest.mark.parametrize("step", steps_with_exercises())
def test_a_completed_exercise_passes_the_check(step, checked):
    _, r = result(checked, f"completed {step}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Your network is step {step}'s" in r.stdout
    if step not in LONG:
        assert "on track: " in r.stdout, r.stdout


def test_step_5_0_with_4_2s_switch_is_the_same_network(checked):
    """Two towers either way: the testing copy's convolutions are not counted as towers of their own."""
    _, r = result(checked, "5.0 with 4.2's switch")
    assert r.returncode == 0 and "Your network is step 5.0's" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("step", sorted(LONG))
def test_a_completed_convolutional_exercise_trains_on_track(step, tmp_path):
    """The accuracy gate of the convolutional steps' checks: 120 iterations against their recorded runs."""
    path = completed(step, str(tmp_path))
    r = check(str(tmp_path), os.path.basename(path), "--iterations", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("on track: " in r.stdout) or (step == "5.0" and "follows the run's length" in r.stdout), r.stdout


def test_the_file_runs_from_the_learners_own_folder(tmp_path):
    """python3 my_2.1.py just works in another folder: the header puts the repository on the path."""
    path = completed("2.1", str(tmp_path))
    r = subprocess.run([sys.executable, os.path.basename(path), "--text", "--iterations", "21"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "PYTHONPATH")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert course.parse_run(r.stdout)["trained"][0] == 21


# -- typical wrong attempts: each its own diagnosis ------------------------------------------------------------

def test_a_missing_layer(checked):
    _, r = result(checked, "missing layer")
    assert r.returncode == 1
    assert ("layers: you have 4 weight matrices, W1 [784, 200], W2 [200, 100], W3 [100, 60] and W5 [60, 10]; the "
            "step has 5: W1 [784, 200], W2 [200, 100], W3 [100, 60], W4 [60, 30] and W5 [30, 10]") in r.stdout
    assert "The lesson: python3 course.py 2.0" in r.stdout


def test_sigmoid_left_in_2_1(checked):
    _, r = result(checked, "sigmoid in 2.1")
    assert r.returncode == 1
    assert "activations: after W1, W2, W3 and W4: yours sigmoid, the step's ReLU" in r.stdout
    assert "matches: layers, starting values, loss, optimiser, learning rate, feeds" in r.stdout


def test_no_learning_rate_decay(checked):
    _, r = result(checked, "no decay")
    assert r.returncode == 1
    assert re.search(r"learning rate: yours at iterations 0, 500 and 1000: 0\.003, 0\.003, 0\.003; the step's: "
                     r"0\.003, 0\.00236, 0\.00186 \(a fixed rate keeps the late curve jumping", r.stdout), r.stdout


def test_zero_initialisation_is_stuck_near_ten_percent(checked):
    _, r = result(checked, "zero weights")
    assert r.returncode == 1
    assert "starting values: W1, W2, W3, W4 and W5 start at 0; the step's at random (sd 0.09)" in r.stdout
    m = re.search(r"stuck near chance \(10% for ten digits\): ([\d.]+)% at best in 201 iterations: W1, W2, W3, W4 "
                  r"and W5 start at zero", r.stdout)
    assert m and float(m.group(1)) < 30, r.stdout


def test_log_of_softmax_is_named_and_gives_nan(checked):
    _, r = result(checked, "log of softmax")
    assert r.returncode == 1
    assert "loss: your loss: log(softmax); the step's: from the logits (log(softmax) becomes log(0)" in r.stdout
    assert re.search(r"NaN: the loss is NaN from iteration [\d,]+ on, and the network stops learning: your loss "
                     r"takes the log of a softmax", r.stdout), r.stdout


def test_dropout_also_at_test_time(checked):
    _, r = result(checked, "dropout when testing")
    assert r.returncode == 1
    assert ("feeds: dropout's keep probability when testing: yours 0.75, the step's 1.0 (dropout is for training "
            "only") in r.stdout
    assert "matches: layers, activations, starting values, dropout, loss" in r.stdout


def test_stride_one_everywhere_in_3_0(checked):
    name, r = result(checked, "stride 1")
    assert r.returncode == 1
    assert "convolutions: W2 and W3: stride 1, the step's 2 (stride 2 halves the image" in r.stdout
    line = f"course: {name}, line "
    assert line in r.stderr and "the network gives 1600 answers for a batch of 100 digits" in r.stderr, r.stderr


def test_a_shape_error_names_the_shapes_and_the_variable(checked):
    name, r = result(checked, "shape error")
    lineno = next(k for k, line in enumerate(open(os.path.join(checked["shape error"][0], name)), 1)
                  if line.startswith("Y3 = "))
    assert r.returncode == 1 and r.stdout.count("\n") == 1, r.stdout        # only the "Checking ..." line
    assert r.stderr == (f"course: {name}, line {lineno}: the shapes do not fit: tf.matmul multiplies Y2 [batch, 100] "
                        f"and W3 [60, 100]; W3's first dimension must equal Y2's last (the width of the layer "
                        f"before)\n")


# -- bad input: one line each, nothing of the learner's changed ---------------------------------------------------

def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)}


@pytest.mark.parametrize("content, says", [
    (bytes(range(256)) * 4, "is not a Python script (it is not text"),
    (b"# My notes\n\nThe five layers: 200, 100, 60 and 30 'neurons.\n", "is not a Python script: Python cannot read"),
    (b"import tensorflowvisu\nX = tf.placeholder(\n", ", line 2: '(' was never closed (Python cannot read this line)"),
])
def test_a_file_python_cannot_read(tmp_path, content, says):
    (tmp_path / "my_2.1.py").write_bytes(content)
    before = snapshot(str(tmp_path))
    r = check(str(tmp_path), "my_2.1.py")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("course: my_2.1.py") and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert snapshot(str(tmp_path)) == before


def test_a_file_without_a_network(checked):
    _, r = result(checked, "no network")
    assert r.returncode == 1
    assert r.stderr == ("course: my_2.1.py ran to its end without calling datavis.animate(...): there is no network "
                        "to check (a step script ends with datavis.animate(training_step, ...))\n")


def test_another_steps_solution_is_named(checked):
    _, r = result(checked, "another step's solution")
    assert r.returncode == 1
    assert "my_2.1.py builds step 2.2's network, not step 2.1's" in r.stdout
    _, r = result(checked, "left as written")
    assert r.returncode == 1 and "my_2.2.py still builds step 2.1's network: nothing of lesson 2.2 is done yet" in \
        r.stdout


def test_a_file_that_never_finishes(checked):
    _, r = result(checked, "never finishes")
    assert r.returncode == 1
    assert r.stderr == ("course: my_2.1.py did not reach datavis.animate(...) within 3 s: does it loop for ever "
                        "before training? (--timeout S waits longer)\n")


# -- the exercise files ---------------------------------------------------------------------------------------

def test_an_exercise_is_never_overwritten_without_force(tmp_path):
    path, text = exercise("2.1", str(tmp_path))
    open(path, "w").write("my work\n")
    r = run("2.1", "--exercise", cwd=str(tmp_path))
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "my_2.1.py exists already (your work?): nothing was written. --force replaces it" in r.stderr
    assert open(path).read() == "my work\n"
    r = run("2.1", "--exercise", "--force", cwd=str(tmp_path))
    assert r.returncode == 0 and "the file that was there is now my_2.1.py.bak" in r.stdout
    assert open(path + ".bak").read() == "my work\n" and open(path).read() == text
    path, _ = exercise("2.1", str(tmp_path), name="attempt2.py")
    assert open(path).read().startswith("# Exercise 2.1 of ")
    assert sorted(os.listdir(tmp_path)) == ["attempt2.py", "my_2.1.py", "my_2.1.py.bak"]     # no temporary left


def test_the_exercise_flags_and_their_bad_values(tmp_path):
    cwd = str(tmp_path)
    said = run("2.2", cwd=cwd).stdout
    assert "Do it:   python3 course.py 2.2 --exercise   (then: python3 course.py check my_2.2.py)" in said
    assert "Do it:" not in run("1.0", cwd=cwd).stdout
    for args, says in ((["1.0", "--exercise"], "step 1.0 has no exercise; the exercises: 2.0, 2.1"),
                       (["--exercise"], "--exercise needs a step"),
                       (["2.1", "--out", "x.py"], "--out and --force go with --exercise"),
                       (["2.1", "--exercise", "--run"], "--run or --exercise, not both")):
        r = run(*args, cwd=cwd)
        assert r.returncode == 2 and says in r.stderr.splitlines()[-1], (args, r.stderr)
    r = run("2.1", "--exercise", "--out", str(tmp_path / "no" / "such" / "x.py"), cwd=cwd)
    assert r.returncode == 1 and r.stderr.startswith("course: the folder ") and "does not exist" in r.stderr
    r = run("2.1", "--exercise", "--out", str(tmp_path), cwd=cwd)
    assert r.returncode == 1 and "is a folder" in r.stderr
    assert os.listdir(tmp_path) == []


def test_check_flags_and_their_bad_values(tmp_path):
    cwd = str(tmp_path)
    r = run("check", "--help", cwd=cwd)
    assert r.returncode == 0 and r.stdout.startswith("usage: course.py check")
    for flag in ("--step", "--iterations", "--timeout", "--panels", "--no-train", "--show-run"):
        assert flag in r.stdout
    (tmp_path / "mine.py").write_text("print(1)\n")
    for args, says in ((["check"], "the following arguments are required: file"),
                       (["check", "mine.py", "--iterations", "0"], "argument --iterations: '0' is not a positive"),
                       (["check", "mine.py", "--timeout", "soon"], "argument --timeout: 'soon' is not a positive"),
                       (["check", "mine.py", "--colour"], "unrecognized arguments: --colour")):
        r = run(*args, cwd=cwd)
        assert r.returncode == 2 and says in r.stderr.splitlines()[-1], (args, r.stderr)
    for args, says in ((["check", "mine.py"], "which step is mine.py for? give it: --step STEP"),
                       (["check", "mine.py", "--step", "9.9"], "there is no step 9.9"),
                       (["check", "absent.py"], "absent.py: no such file")):
        r = run(*args, cwd=cwd)
        assert r.returncode == 1 and r.stderr.startswith("course: ") and says in r.stderr, (args, r.stderr)


def test_the_explanations_and_their_help(tmp_path):
    r = run("--help", cwd=str(tmp_path))
    for name in ("check", "tour", "walk", "notes"):
        assert f"course.py {name}" in r.stdout
        h = run(name, "--help", cwd=str(tmp_path))
        assert h.returncode == 0 and h.stdout.startswith(f"usage: course.py {name}")
        if name != "check":
            bad = run(name, "--now", cwd=str(tmp_path))
            assert bad.returncode == 2 and "unrecognized arguments: --now" in bad.stderr
    tour = run("tour", cwd=str(tmp_path)).stdout
    from tutor import notes
    for n, title in notes.titles().items():
        assert f"{n}. {title}\n" in tour
    for key, does in notes.keys_table():
        assert key in tour and does in tour
    assert "SPACE" in tour and "Ctrl-S" in tour
    walk = run("walk", cwd=str(tmp_path)).stdout
    for line in ("X = tf.placeholder(tf.float32, [None, 28, 28, 1])", "train_step = tf.train.GradientDescentOptimizer",
                 "sess = tf.Session()", "feed_dict={X: batch_X, Y_: batch_Y}"):
        assert line in walk
    text = run("notes", cwd=str(tmp_path)).stdout
    for fact in ("0.005", "0.003", "600 iterations", "softmax_cross_entropy_with_logits_v2", "rate=1 - pkeep",
                 "padding='SAME' pads with zeros"):
        assert fact in text



def test_the_reference_benchmark_help_and_bad_values(tmp_path):
    """benchmarks/tutor_curves.py through its command line: --help, and the counts it refuses (nothing run,
    the results file untouched)."""
    bench = os.path.join(ROOT, "benchmarks", "tutor_curves.py")
    out = tmp_path / "curves.json"
    r = subprocess.run([sys.executable, bench, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--checks" in r.stdout and "--seeds" in r.stdout
    for args in (["--seeds", "0", "--checks", "0"], ["--seeds", "-1"], ["--steps", "1.0"]):
        r = subprocess.run([sys.executable, bench, *args, "--out", str(out)], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") <= 3, (args, r.stderr)
        assert ("--seeds and --checks must be 0 or more" in r.stderr) or ("invalid choice: '1.0'" in r.stderr)
    assert not out.exists()
