"""`mnistlab course`: the lessons exist and render, their commands run with the real CLI, the figures they
state are measured ones, and the path and previous-step comparison find the learner's runs."""
from __future__ import annotations

import io
import json
import re
import shlex

import numpy as np
import pytest

from conftest import run_cli
from mnistlab import course
from mnistlab.cli import build_parser, main
from mnistlab.recipes import LADDER, RECIPES, THRESHOLDS
from mnistlab.session import module_exists

SHORT = ["--iterations", "20", "--eval-every", "10", "--display", "none"]
ALL_COMMANDS = [(step, cmd) for step in course.steps() for cmd in course.try_commands(step)]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A folder of MNIST-format IDX files: the first 2,000 training and 200 test digits, so that every
    lesson's command can really train for a few steps within the test budget."""
    from mnistlab.data import SPLITS, bundled_mnist_dir, read_idx
    folder = tmp_path_factory.mktemp("tiny-mnist")
    for role, stem in SPLITS.items():
        a = read_idx(bundled_mnist_dir() / (stem + ".gz"))[:2000 if role.startswith("train") else 200]
        header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
        (folder / stem).write_bytes(header + np.ascontiguousarray(a, dtype=np.uint8).tobytes())
    return folder


def tiny(tiny_dir) -> list[str]:
    return [*SHORT, "--data-dir", str(tiny_dir), "--dataset", "tiny"]  # "tiny": no MNIST checksums to check


# -- the lessons -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("step", course.steps())
def test_every_step_has_a_lesson_that_renders(step):
    from rich.console import Console
    raw = course.raw_lesson(step)
    for part in ("**What to watch.**", "**Pitfall", course.TRY_HEADING, "**Measured**"):
        assert part in raw, f"lesson {step} lacks {part}"
    assert course.try_commands(step), f"lesson {step} suggests no command"
    md = course.lesson_markdown(step, results={})
    assert "{{" not in md and course.NOT_MEASURED in md
    out = io.StringIO()
    course.render(md, Console(file=out, width=100, color_system=None))
    text = out.getvalue()
    assert raw.splitlines()[0].lstrip("# ") in text and "Try it yourself" in text
    recipe = course.recipe_of(step)
    if recipe is not None:  # the real nn.Module source, the module as built, and what changed
        cls = type(__import__("mnistlab.models", fromlist=["build_model"]).build_model(recipe))
        assert f"class {cls.__name__}(" in text and "parameters)" in text
        assert "What changed in the recipe" in text
    html = course.lesson_html(step, results={})  # what the browser shows
    assert html.startswith("<h1>") and ("<table>" in html) == (recipe is not None)


def test_lessons_state_no_hand_typed_figures():
    """Accuracies and times come from placeholders; a typed percentage may only be a figure the course
    reports, or a threshold whose time-to-accuracy is measured ("time to 99%")."""
    allowed = {round(r.course_accuracy * 100, 2) for r in LADDER} | {round(t * 100, 2) for t in THRESHOLDS}
    for step in course.steps():
        raw = course.raw_lesson(step)
        for m in re.finditer(r"(\d+(?:\.\d+)?)\s*%", raw):
            assert round(float(m.group(1)), 2) in allowed, f"lesson {step}: hand-typed figure {m.group(0)!r}"
        times = re.findall(r"\d[\d,.]*\s*(?:s|sec|seconds?|minutes?|min|ms|hours?)\b", raw)
        assert not times, f"lesson {step}: hand-typed time {times}"
        for m in course._PLACEHOLDER.finditer(raw):
            name = m.group(2).split(".")[0]
            assert name in {r.name for r in LADDER} | set(course.FINAL_STEPS), f"lesson {step}: {m.group(0)}"


def test_placeholders_fill_from_measured_results():
    summary = {"max_test_accuracy": 0.98765, "iterations": 10000, "wall_seconds": 123.4, "device": "cpu",
               "device_name": "x86_64", "threads": 2, "time_to_accuracy": {"0.98": 45.6, "0.99": None}}
    text = ("**Measured** {{measured.conv.max_test_accuracy}} after {{measured.conv.iterations}} steps in "
            "{{measured.conv.wall_seconds}} on {{measured.conv.machine}}; 98% after "
            "{{measured.conv.time_to_accuracy.0.98}}, 99% {{measured.conv.time_to_accuracy.0.99}}; "
            "course {{course.conv}}, {{course.batchnorm_conv}}")
    assert course.fill(text, {"conv": summary}) == (
        "**Measured** 98.77% after 10,000 steps in 123 s on x86_64 (cpu, 2 threads); 98% after 46 s, "
        "99% not reached; course 98.9%, 99.5%")
    assert course.fill(text, {}).startswith(f"**Measured:** {course.NOT_MEASURED} (`python benchmarks/ladder.py conv`")
    assert course.fill("x {{measured.conv.max_test_accuracy}}", {}) == f"x {course.NOT_MEASURED}"
    # the packaged copy has the schema benchmarks/ladder.py writes
    packaged = course.measured()
    assert set(packaged) >= {"versions", "results"} and all("max_test_accuracy" in s for s in packaged["results"].values())


def test_recipe_changes_list_what_differs_from_the_previous_step():
    changed = {name for name, *_ in course.recipe_changes(RECIPES["five_layer_sigmoid"], RECIPES["five_layer_relu"])}
    assert changed == {"activation", "bias_init", "lr_min", "lr_decay_steps"}
    md = course.changes_markdown("2.1")
    assert "| `--activation` | sigmoid | **relu** |" in md and "2.0 five_layer_sigmoid" in md


# -- every command a lesson suggests parses and runs ---------------------------------------------------------
@pytest.mark.parametrize("step,command", ALL_COMMANDS, ids=[c for _, c in ALL_COMMANDS])
def test_lesson_command_parses_and_runs(step, command, tiny_dir, tmp_path):
    argv = shlex.split(command)
    assert argv[0] == "mnistlab"
    args = build_parser().parse_args(argv[1:])  # SystemExit here: the text drifted from the CLI
    assert args.command == "train" and course.resolve_step(args.recipe) == step
    if course.recipe_of(step) is None:
        pytest.skip(f"recipe {step} is not in this install yet")
    run_dir = tmp_path / "run"
    assert main([*argv[1:], *tiny(tiny_dir), "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 20


# -- the command -------------------------------------------------------------------------------------------------
def test_course_step_trains_and_compares_with_the_previous_run(tiny_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "2.0", *tiny(tiny_dir), "--run-dir", str(runs / "a-earlier")]) == 0
    capsys.readouterr()
    assert main(["course", "2.1", "--runs-dir", str(runs), *tiny(tiny_dir)]) == 0
    out = capsys.readouterr().out
    new = [p for p in runs.iterdir() if p.is_dir() and p.name.endswith("five_layer_relu")]
    assert len(new) == 1, "the step's run goes into the runs dir"
    before = json.loads((runs / "a-earlier" / "summary.json").read_text())
    after = json.loads((new[0] / "summary.json").read_text())
    assert f"Compared with your latest run of 2.0 ({runs / 'a-earlier'})" in out
    row = next(line for line in out.splitlines() if line.startswith("max test accuracy "))
    assert row.split()[-2:] == [f"{before['max_test_accuracy']:.2%}", f"{after['max_test_accuracy']:.2%}"]
    assert "your 2.0 five_layer_sigmoid run changed: iterations 20" in out
    assert "test accuracy / test loss along the way" in out and "class Dense(" in out
    figure = runs / f"{new[0].name}-vs-previous.png"
    if module_exists("mnistlab.dashboard.commands"):  # the curves overlaid by the dashboard's compare
        assert f"curves overlaid: {figure}" in out and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "the curves overlaid need the dashboard" in out and not figure.exists()
    assert "Try it yourself" in out and "next: mnistlab course 2.2 --runs-dir" in out

    # the path now shows both runs with what they reached
    assert main(["course", "--runs-dir", str(runs)]) == 0
    path = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:3] in ("2.0", "2.1", "2.2")}
    assert f"1 run, latest {before['max_test_accuracy']:.2%} *" in path["2.0"]  # *: 20 iterations, not 10,000
    assert f"1 run, latest {after['max_test_accuracy']:.2%} *" in path["2.1"]
    assert path["2.2"].rstrip().endswith("-")


def test_missing_previous_run_is_offered_not_fatal(tiny_dir, tmp_path, capsys):
    runs = tmp_path / "empty-runs"
    assert main(["course", "2.2", "--runs-dir", str(runs), *tiny(tiny_dir)]) == 0
    out = capsys.readouterr().out
    assert f"No run of the previous step (2.1 five_layer_relu) in {runs}/" in out
    assert f"mnistlab course 2.1 --runs-dir {runs}" in out


def test_no_train_shows_the_lesson_only(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["course", "3.1", "--no-train", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "class Conv(" in out and "Try it yourself" in out and f"next: mnistlab course 4.0 --runs-dir {runs}" in out
    assert not runs.exists()


def test_a_final_recipe_missing_from_the_install_is_explained(monkeypatch, capsys, tmp_path):
    monkeypatch.delitem(RECIPES, "fast", raising=False)
    assert course.previous_step("best") == "4.2"
    assert main(["course", "fast", "--no-train"]) == 0
    assert "not part of this mnistlab install yet" in capsys.readouterr().out
    assert main(["course", "fast", "--runs-dir", str(tmp_path)]) == 1
    capsys.readouterr()
    assert main(["course", "--runs-dir", str(tmp_path)]) == 0
    fast = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("fast "))
    assert fast.endswith("(not in this install yet)")


def test_unknown_step_lists_the_steps_and_exits_2():
    p = run_cli("course", "9.9")
    assert p.returncode == 2
    assert p.stderr.startswith("mnistlab: error: unknown step '9.9'")
    assert all(f"  {s} " in p.stderr for s in course.steps()) and "Traceback" not in p.stderr
