"""The course as a command: the path with the learner's runs, and one step (lesson, training, comparison).

The lesson text and the model/recipe sections come from course.py; the learner's runs are found in their
runs folder (`runs/`, or --runs-dir) by reading each run dir's config.json and summary.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import course

DEFAULT_RUNS = "runs"
# Options of `course` that are not recipe overrides and not display/sink options.
_CORE = {"command", "step", "runs_dir", "no_train", "run_dir", "display", "device", "dataset", "data_dir"}


def add_arguments(p) -> None:
    from .cli import TRAIN_OPTION_PROVIDERS, _module, add_recipe_overrides
    from .session import available_displays
    displays = available_displays()
    p.add_argument("step", nargs="?", help="a step: " + ", ".join(course.steps())
                   + " (or its recipe name); without one, the whole path and what you have run")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS, help="where your runs are (and new ones go; default runs)")
    p.add_argument("--no-train", action="store_true", help="show the lesson only")
    p.add_argument("--run-dir", help="where to write this step's run (default RUNS_DIR/<time>-<recipe>)")
    p.add_argument("--display", default="auto" if "auto" in displays else "text", choices=displays,
                   help="how to watch the training (as for `mnistlab train`)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--dataset", default="mnist", help="mnist (bundled) or fashion-mnist")
    p.add_argument("--data-dir", help="follow the course on any folder of MNIST-format IDX files")
    for name in TRAIN_OPTION_PROVIDERS:
        if (m := _module(name)) is not None:
            m.add_train_arguments(p)
    add_recipe_overrides(p)


def run(args) -> int:
    if args.step is None:
        print(path_text(args.runs_dir))
        return 0
    step = course.resolve_step(args.step)
    if step is None:
        print(f"mnistlab: error: unknown step {args.step!r}; choose one of these:", file=sys.stderr)
        print(steps_text(), file=sys.stderr)
        return 2
    return run_step(step, args)


# -- the learner's runs ---------------------------------------------------------------------------------------
def learner_runs(runs_dir: str | Path = DEFAULT_RUNS) -> dict[str, list]:
    """recipe name -> that recipe's RunDirs in runs_dir, oldest first."""
    from .runs import RunError, find_runs
    found: dict[str, list] = {}
    for run in find_runs(runs_dir):
        try:
            config = run.config
            found.setdefault(config["recipe"]["name"], []).append((config.get("created", ""), run.path.name, run))
        except (RunError, KeyError, TypeError):
            continue  # not a run this version can read: the path skips it rather than failing
    return {name: [r for *_, r in sorted(runs, key=lambda t: t[:2])] for name, runs in found.items()}


def latest_run(runs_dir: str | Path, recipe_name: str, exclude: Path | None = None):
    """The newest finished run of a recipe (else the newest at all), or None."""
    runs = [r for r in learner_runs(runs_dir).get(recipe_name, []) if exclude is None or r.path != Path(exclude)]
    finished = [r for r in runs if r.summary is not None]
    return (finished or runs or [None])[-1]


def own_changes(run) -> list[str]:
    """What the learner changed in a run's recipe ("iterations 20"), compared with the named recipe."""
    from .recipes import Recipe
    recipe = Recipe.from_dict(run.config["recipe"])
    stock = course.recipe_of(recipe.name)
    if stock is None:
        return []
    return [f"{name} {course.value_text(after)}" for name, _, after in course.recipe_changes(stock, recipe)]


def _reached(run) -> str:
    s = run.summary
    if s is None:
        return "unfinished"
    acc = s.get("max_test_accuracy")
    return (f"{acc:.2%}" if acc is not None else "no test yet") + ("" if s.get("status") == "completed" else f" ({s.get('status')})")


def path_text(runs_dir: str | Path = DEFAULT_RUNS) -> str:
    """The whole path: step, idea, the course's figure, the measured one, and what the learner ran."""
    results = course.measured().get("results", {})
    mine = learner_runs(runs_dir)
    lines = [f"The course, one step at a time (your runs: {runs_dir}/)", "",
             f"{'step':<5} {'idea':<54} {'course':>6} {'measured':>9}  your runs"]
    first_missing = None
    for step in course.steps():
        recipe = course.recipe_of(step)
        if recipe is None:
            lines.append(f"{step:<5} {course.title(step):<54} {'-':>6} {'-':>9}  (not in this install yet)")
            continue
        runs = mine.get(recipe.name, [])
        got = results.get(recipe.name, {}).get("max_test_accuracy")
        you = "-" if not runs else (f"{len(runs)} run{'s' * (len(runs) > 1)}, latest {_reached(runs[-1])}"
                                    + (" *" if own_changes(runs[-1]) else ""))
        if not runs and first_missing is None:
            first_missing = step
        lines.append(f"{step:<5} {recipe.title[:54]:<54} "
                     f"{course.percent(recipe.course_accuracy) if recipe.course_accuracy else '-':>6} "
                     f"{f'{got:.2%}' if got is not None else '-':>9}  {you}")
    lines += ["", "course: the accuracy the course reports; measured: benchmarks/ladder.py "
              "('-': not measured yet); *: your latest run changed the recipe (e.g. fewer iterations)",
              "a lesson: `mnistlab course STEP`"]
    if first_missing:
        lines.append(f"next: {_course_command(first_missing, runs_dir)}")
    return "\n".join(lines)


def steps_text() -> str:
    return "\n".join(f"  {s:<5} {course.title(s)}" for s in course.steps())


def _course_command(step: str | None, runs_dir) -> str:
    return ("mnistlab course" + (f" {step}" if step else "")
            + (f" --runs-dir {runs_dir}" if str(runs_dir) != DEFAULT_RUNS else ""))


# -- comparing with the previous step -------------------------------------------------------------------------
def _test_curve(run) -> list[tuple[int, float, float]]:
    from .events import TestUpdate
    events, _ = run.events()
    return [(e.step, e.accuracy, e.loss) for e in events if isinstance(e, TestUpdate)]


def comparison_text(before, after) -> str:
    """Two runs side by side: summary figures, then test accuracy and loss at a few common steps."""
    runs = [before, after]
    names = [" ".join(filter(None, (r.config["recipe"].get("step"), r.config["recipe"]["name"]))) for r in runs]
    summaries = [r.summary or {} for r in runs]
    pct = lambda v: "-" if v is None else f"{v:.2%}"  # noqa: E731
    rows = [("steps", [f"{s.get('iterations', 0):,}" for s in summaries]),
            ("max test accuracy", [pct(s.get("max_test_accuracy")) for s in summaries]),
            ("final test accuracy", [pct(s.get("final_test_accuracy")) for s in summaries]),
            ("final test loss", ["-" if s.get("final_test_loss") is None else f"{s['final_test_loss']:.4f}"
                                 for s in summaries]),
            ("training time", ["-" if s.get("wall_seconds") is None else f"{s['wall_seconds']:.1f} s"
                               for s in summaries])]
    width = max(24, *(len(n) + 2 for n in names))
    lines = [f"{'':<22}" + "".join(f"{n:>{width}}" for n in names)]
    lines += [f"{label:<22}" + "".join(f"{v:>{width}}" for v in values) for label, values in rows]
    for name, run in zip(names, runs):
        if changes := own_changes(run):
            lines.append(f"your {name} run changed: {', '.join(changes)}")
    a, b = (s.get("max_test_accuracy") for s in summaries)
    if a is not None and b is not None:
        lines.append(f"max test accuracy {'up' if b >= a else 'down'} by {abs(b - a) * 100:.2f} points")
    curves = [_test_curve(r) for r in runs]
    last = max((c[-1][0] for c in curves if c), default=0)
    if last:
        marks = sorted({max(1, round(last * f)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)})
        lines += ["", "test accuracy / test loss along the way (latest evaluation at or before each step):",
                  f"{'step':<22}" + "".join(f"{n:>{width}}" for n in names)]
        for m in marks:
            cells = []
            for c in curves:
                seen = [p for p in c if p[0] <= m]
                cells.append(f"{seen[-1][1]:.2%} / {seen[-1][2]:.3f}" if seen else "-")
            if any(cell != "-" for cell in cells):
                    lines.append(f"{m:<22,}" + "".join(f"{v:>{width}}" for v in cells))
    return "\n".join(lines)


def save_comparison_figure(before, after) -> Path | str:
    """The two runs' curves overlaid, by the dashboard's compare (a PNG beside the new run dir); a string
    saying why not when the dashboard is not installed or cannot draw."""
    try:
        from .dashboard.commands import save_compare_png
    except ImportError:
        return "the curves overlaid need the dashboard (`mnistlab compare`), not part of this install"
    path = after.path.parent / f"{after.path.name}-vs-previous.png"
    try:
        save_compare_png([before.path, after.path], path)
    except Exception as e:  # noqa: BLE001  (a figure is a bonus: the text comparison above is the result)
        return f"could not draw the curves overlaid ({type(e).__name__}: {e})"
    return path


# -- one step ----------------------------------------------------------------------------------------------------
def run_step(step: str, args) -> int:
    from .cli import overrides_from
    runs_dir = args.runs_dir
    parts = course.lesson_parts(step)
    course.render("\n\n".join(p for p in (parts["lesson"], parts["code"], parts["changes"]) if p))
    recipe = course.recipe_of(step)
    if recipe is None:
        print(f"\nThe {step} recipe is not in this mnistlab install, so there is nothing to train yet.")
        return 0 if args.no_train else 1
    if args.no_train:
        _finish(step, parts, runs_dir)
        return 0

    from .loop import Diverged
    from .runs import RunError, default_run_dir
    from .session import train
    overrides = overrides_from(args)
    options = {k: v for k, v in vars(args).items() if k not in _CORE and k not in overrides and v is not None}
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(recipe.name, runs_dir)
    print(f"\nTraining {course.step_label(step)}: `mnistlab train {step}" + "".join(
        f" --{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in overrides.items())
          + f"` into {run_dir}", flush=True)
    try:
        result = train(recipe, display=args.display, run_dir=run_dir, device=args.device, dataset=args.dataset,
                       data_dir=args.data_dir, display_options=options, **overrides)
    except ValueError as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"mnistlab: error: training diverged: {e}", file=sys.stderr)
        return 1
    from .console import format_summary
    print(format_summary(result.summary))
    if result.status == "interrupted":
        print(f"interrupted; continue with: mnistlab train --resume {result.run_dir}", file=sys.stderr)
        return 130
    print(f"run dir: {result.run_dir}\n")

    prev = course.previous_step(step)
    if prev is None:
        print("This is the first step: there is no earlier run to compare with.")
    else:
        prev_recipe = course.recipe_of(prev)
        before = latest_run(runs_dir, prev_recipe.name, exclude=result.run_dir)
        if before is None:
            print(f"No run of the previous step ({course.step_label(prev)}) in {runs_dir}/ to compare with; "
                  f"run it with: {_course_command(prev, runs_dir)}")
        else:
            from .runs import RunDir
            after = RunDir(result.run_dir)
            print(f"Compared with your latest run of {prev} ({before.path}):\n")
            try:
                print(comparison_text(before, after))
            except RunError as e:  # an unreadable earlier run must not spoil this one
                print(f"cannot read {before.path}: {e}")
            figure = save_comparison_figure(before, after)
            print(f"\ncurves overlaid: {figure}" if isinstance(figure, Path) else f"\n({figure})")
    _finish(step, parts, runs_dir)
    return 0


def _finish(step: str, parts: dict, runs_dir) -> None:
    if parts["try"]:
        print()
        course.render(parts["try"])
    nxt = course.next_step(step)
    print("\nnext: " + (_course_command(nxt, runs_dir) if nxt else
                        f"that was the last step; `{_course_command(None, runs_dir)}` shows your whole path"))
