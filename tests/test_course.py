"""course.py: the list of steps with the course's figures and the recorded ones, the lessons, the diffs, and a
real run compared with the step before it. Recorded figures come from a results file written here, so that a
figure typed by hand into course.py would show."""
import json
import re

import pytest

import course
from conftest import SCRIPTS, run_script

COURSE_STEPS = ["1.0", "2.0", "2.1", "2.2", "3.0", "3.1", "4.0", "4.1", "4.2"]


@pytest.fixture
def results(tmp_path):
    """A results file in benchmarks/ladder.py's format, with figures no real run gives."""
    rows = {"1.0": dict(step="1.0", max_accuracy=0.9123, max_at=1234, iterations=2000,
                        curve=[[0, 0.1], [50, 0.61], [100, 0.7777], [150, 0.8], [2000, 0.9123]]),
            "2.2": dict(step="2.2", max_accuracy=0.98765, max_at=6543, iterations=10000, curve=[[0, 0.1]])}
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps({"steps": rows, "machine": {}}))
    return str(path)


def run(capsys, *argv):
    course.main(list(argv))
    return capsys.readouterr().out


def test_list_has_every_step_with_both_figures(capsys, results):
    out = run(capsys, "--results", results)
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if re.match(r"\d+\.\d+ ", line)}
    assert list(lines) == [re.match(r"mnist_(\d+\.\d+)_", s).group(1) for s in SCRIPTS]   # 5.x too, if any
    assert "91.23% (max, at 1,234 of 2,000)" in lines["1.0"] and "98.77% (max, at 6,543 of 10,000)" in lines["2.2"]
    assert "not measured yet" in lines["3.1"]
    figures = course.figures()
    assert figures["3.1"]["reports"] in lines["3.1"] and figures["1.0"]["reports"] in lines["1.0"]   # data/course.json


def test_no_results_file_says_not_measured(capsys, tmp_path):
    out = run(capsys, "--results", str(tmp_path / "none.json"))
    assert out.count("not measured yet") == len(SCRIPTS) and "python3 benchmarks/ladder.py" in out


def test_every_step_has_a_lesson_without_typed_figures():
    assert set(COURSE_STEPS) <= set(course.steps()) == set(course.LESSONS)
    for step, lesson in course.LESSONS.items():
        text = " ".join(v for k, v in lesson.items() if k != "against")
        assert not re.search(r"\d\s*%|\d\.\d\d", text), (step, text)          # no accuracy typed in a lesson
        assert all(lesson.get(k) for k in ("title", "changes", "why", "watch"))


def test_a_lesson_with_its_diff_and_command(capsys, results):
    out = run(capsys, "2.2", "--results", results)
    assert out.startswith("Step 2.2: dropout")
    for part in ("Changes ", "Why ", "Watch ", "(read against step 2.1)", "What changes from step 2.1"):
        assert part in out
    assert "+Y1d = tf.nn.dropout(Y1, rate=1 - pkeep)" in out and "-Ylogits = tf.matmul(Y4, W5) + B5" in out
    assert "step 2.2: the course reports 98.2%; ours 98.77% (max, at 6,543 of 10,000)" in out
    assert "step 2.1: the course reports 98.2%; ours not measured yet" in out
    assert "python3 mnist_2.2_five_layers_relu_lrdecay_dropout.py" in out and "python3 course.py 2.2 --run" in out
    assert "Next:    python3 course.py 3.0" in out


def test_the_lessons_about_the_inside_point_at_its_view(capsys):
    """2.2 (the mistakes) and 3.0 (the filters) send the learner to the look-inside view's key; others do not."""
    for step, topic in (("2.2", "The confusion matrix"), ("3.0", "The first layer's patches")):
        out = run(capsys, step)
        assert f"Inside    {course.INSIDE} {topic}" in out.replace("\n          ", " "), out
    assert "Inside " not in run(capsys, "2.1")


def test_first_step_and_steps_read_against_an_earlier_one(capsys):
    out = run(capsys, "1.0")
    assert "What changes" not in out and "Next:    python3 course.py 2.0" in out
    out = run(capsys, "4.0")
    assert "What changes from step 2.0" in out and "+def batchnorm(" in out
    assert "What changes from step 3.1" in run(capsys, "4.2")


def test_bad_step_and_misplaced_flags(capsys):
    with pytest.raises(SystemExit):
        course.main(["9.9"])
    assert "no step '9.9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        course.main(["2.2", "--iterations", "5"])
    assert "script flags go after --run" in capsys.readouterr().err


def test_run_compares_with_the_previous_steps_record(capsys, results):
    out = run(capsys, "2.0", "--run", "--text", "--iterations", "101", "--results", results)
    assert "$ python3 mnist_2.0_five_layers_sigmoid.py --text --iterations 101" in out
    assert "100: ********* epoch 1 ********* test accuracy:" in out                 # the run's own lines
    mine = float(re.search(r"Your run of step 2\.0: max test accuracy ([\d.]+)% \(at iteration [\d,]+, of 100\)",
                           out).group(1))
    m = re.search(r"step 1\.0 as recorded: 77\.77% by iteration 100 \(91\.23% over all its 2,000 iterations\): "
                  r"yours ([+-][\d.]+) points", out)
    assert m and float(m.group(1)) == pytest.approx(mine - 77.77, abs=0.011)     # against the same stretch
    assert "step 2.0: not measured yet" in out


def test_parse_run_reads_every_line_a_step_prints():
    r = run_script("mnist_1.0_softmax.py", "--text", "--iterations", "21")
    run = course.parse_run(r.stdout)
    assert [i for i, _, _ in run["train"]] == [0, 10, 20] and [i for i, _, _ in run["test"]] == [0, 10, 20]
    assert run["trained"][0] == 21 and run["max"] == max(a for _, a, _ in run["test"])
    odd = course.parse_run("0: ********* epoch 1 ********* test accuracy:0.0549 test loss: 1.7787832e+12\n"
                           "10: accuracy:0.1 loss: nan (lr:0.02)\ntrained 1 iteration in 0.5 s (50.00 s per 100 "
                           "iterations, tests included)\nmax test accuracy: 0.0549\n")
    assert odd["test"] == [(0, 0.0549, 1.7787832e12)] and odd["train"][0][2] != odd["train"][0][2]   # nan
    assert odd["trained"] == (1, 0.5, 50.0) and odd["max"] == 0.0549


def test_every_step_is_found_and_has_its_figures_entry():
    assert list(course.steps()) == [re.match(r"mnist_(\d+\.\d+)_", s).group(1) for s in SCRIPTS]
    assert set(course.steps()) == set(course.figures())
