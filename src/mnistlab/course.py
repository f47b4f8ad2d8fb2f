"""The guided course: one lesson per step of the ladder (1.0 ... 4.2), then the `fast` and `best` recipes.

    mnistlab course            the path: each step, its idea, the course's figure, what you have run
    mnistlab course 2.1        the lesson, the model's code, what changed in the recipe; then trains the
                               step and compares it with your latest run of the previous step

The lessons are Markdown files in mnistlab/lessons/, so the notebook and the browser show the same text:
`lesson_markdown("2.1")` (or `lesson_html("2.1")`). A lesson never types a measured figure: it writes `{{measured.RECIPE.FIELD}}`
(a field of that recipe's summary.json, e.g. max_test_accuracy, wall_seconds, time_to_accuracy.0.99) or
`{{course.RECIPE}}` (the accuracy the course reports), filled from lessons/measured.json, the packaged copy
of what benchmarks/ladder.py measured. The training, path and comparison side is in course_runs.py.
"""
from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources

from .recipes import LADDER, RECIPES, Recipe, field_help

FINAL_STEPS = ("fast", "best")  # recipes beyond the course (recipes.py may not have them yet)
NOT_MEASURED = "not measured yet"
TRY_HEADING = "## Try it yourself"
# Recipe fields that name or report rather than tune: left out of "what changed".
_NOT_HYPERPARAMETERS = {"name", "step", "title", "course_accuracy", "train_every", "eval_every", "eval_after",
                        "digits_every", "bands_every", "checkpoint_every"}
_PLACEHOLDER = re.compile(r"\{\{\s*(measured|course)\.([\w.]+)\s*\}\}")
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


# -- the steps ------------------------------------------------------------------------------------------------
def steps() -> list[str]:
    """Every step of the path, in order: the ladder's course steps, then the final recipes."""
    return [r.step for r in LADDER] + list(FINAL_STEPS)


def resolve_step(text: str) -> str | None:
    """"2.1", "five_layer_relu" or "fast" -> the step ("2.1", "fast"); None if it is not a step."""
    for r in LADDER:
        if text in (r.step, r.name):
            return r.step
    return text if text in FINAL_STEPS else None


def recipe_of(step: str) -> Recipe | None:
    """The step's recipe; None for a final recipe not (yet) in this install."""
    return next((r for r in RECIPES.values() if step in (r.step, r.name)), None)


def lesson_name(step: str) -> str:
    r = next((r for r in LADDER if r.step == step), None)
    return r.name if r else step


def step_label(step: str) -> str:
    """"2.1 five_layer_relu", or just "fast" for a recipe without a course step."""
    name = lesson_name(step)
    return step if name == step else f"{step} {name}"


def previous_step(step: str) -> str | None:
    """The step before, skipping final recipes this install lacks (best follows 4.2 if fast is absent)."""
    order = steps()
    earlier = [s for s in order[:order.index(step)] if recipe_of(s) is not None]
    return earlier[-1] if earlier else None


def next_step(step: str) -> str | None:
    order = steps()
    i = order.index(step)
    return order[i + 1] if i + 1 < len(order) else None


def title(step: str) -> str:
    """The step's one-line idea: a course step's recipe title, else the lesson's heading (the final recipes'
    titles are technical summaries, too long for the path)."""
    r = next((r for r in LADDER if r.step == step), None)
    if r is not None and r.title:
        return r.title
    first = raw_lesson(step).splitlines()[0]
    return first.lstrip("# ").split("·", 1)[-1].strip()


# -- lesson text -----------------------------------------------------------------------------------------------
def raw_lesson(step: str) -> str:
    """The lesson's Markdown as written, placeholders unfilled."""
    return (resources.files("mnistlab") / "lessons" / f"{lesson_name(step)}.md").read_text(encoding="utf-8")


def measured() -> dict:
    """{"versions": ..., "results": {recipe: summary}} as benchmarks/ladder.py wrote it; {} when absent."""
    try:
        return json.loads((resources.files("mnistlab") / "lessons" / "measured.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def percent(fraction: float) -> str:
    text = f"{fraction:.1%}"
    return text.replace(".0%", "%")


def _lookup(summary: dict, path: list[str]):
    """Walk a dotted path whose keys may hold dots themselves ("time_to_accuracy.0.99")."""
    value = summary
    while path:
        for n in range(len(path), 0, -1):
            key = ".".join(path[:n])
            if isinstance(value, dict) and key in value:
                value, path = value[key], path[n:]
                break
        else:
            raise KeyError(".".join(path))
    return value


def _format(field: str, value) -> str:
    if value is None:
        return "not reached"
    if field.startswith(("wall_seconds", "time_to_accuracy")):  # seconds
        return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"
    if "accuracy" in field and isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def measured_value(name: str, field: str, results: dict) -> str:
    summary = results.get(name)
    if summary is None:
        return NOT_MEASURED
    if field == "machine":
        return f"{summary.get('device_name', '?')} ({summary.get('device', '?')}, {summary.get('threads', '?')} threads)"
    try:
        return _format(field, _lookup(summary, field.split(".")))
    except KeyError:
        return NOT_MEASURED


def fill(text: str, results: dict | None = None) -> str:
    """Placeholders -> figures. A "**Measured**" paragraph about a recipe nobody measured becomes one line
    saying so and how to measure it."""
    results = measured().get("results", {}) if results is None else results
    paragraphs = text.split("\n\n")
    for i, par in enumerate(paragraphs):
        names = {m.group(2).split(".")[0] for m in _PLACEHOLDER.finditer(par) if m.group(1) == "measured"}
        missing = sorted(n for n in names if n not in results)
        if par.startswith("**Measured**") and missing:
            paragraphs[i] = (f"**Measured:** {NOT_MEASURED} (`python benchmarks/ladder.py {' '.join(missing)}` "
                             "measures it).")

    def one(m: re.Match) -> str:
        kind, path = m.group(1), m.group(2)
        name, _, field = path.partition(".")
        if kind == "course":
            r = RECIPES.get(name)
            return percent(r.course_accuracy) if r is not None and r.course_accuracy else "no figure"
        return measured_value(name, field, results)
    return _PLACEHOLDER.sub(one, "\n\n".join(paragraphs))


def try_commands(step: str) -> list[str]:
    """The exact `mnistlab ...` commands of the lesson's ```sh blocks."""
    out = []
    for block in _SH_BLOCK.findall(raw_lesson(step)):
        out += [line.strip() for line in block.splitlines() if line.strip().startswith("mnistlab ")]
    return out


# -- the model and the recipe ----------------------------------------------------------------------------------
def model_code(recipe: Recipe) -> str:
    """Markdown: the real source of the recipe's nn.Module classes, and the module as built for it."""
    import inspect

    import torch

    from .models import build_model
    with torch.random.fork_rng():  # building initialises weights: leave the caller's RNG as it was
        model = build_model(recipe)
    classes = list(dict.fromkeys(type(m) for m in model.modules() if type(m).__module__.startswith("mnistlab")))
    sharing = [r.step or r.name for r in RECIPES.values() if r.model == recipe.model]
    parameters = sum(p.numel() for p in model.parameters())
    head = f"`{classes[0].__name__}` in `{classes[0].__module__}`"
    if len(sharing) > 1:
        head += f", shared by steps {', '.join(sharing)}; the recipe's fields decide its layers"
    sources = "\n\n".join(inspect.getsource(c).rstrip() for c in classes)
    return (f"## The model's code\n\n{head}.\n\n```python\n{sources}\n```\n\n"
            f"As built for this step ({parameters:,} parameters):\n\n```text\n{model}\n```")


def recipe_changes(before: Recipe, after: Recipe) -> list[tuple[str, object, object]]:
    """(field, before, after) for every hyperparameter that differs."""
    return [(f.name, getattr(before, f.name), getattr(after, f.name)) for f in dataclasses.fields(Recipe)
            if f.name not in _NOT_HYPERPARAMETERS and getattr(before, f.name) != getattr(after, f.name)]


def value_text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, tuple):
        return ", ".join(map(str, v)) if v else "-"
    return f"{v:g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


def changes_markdown(step: str) -> str:
    recipe, prev = recipe_of(step), previous_step(step)
    before = recipe_of(prev) if prev else Recipe()
    label = step_label(prev) if prev else "Recipe defaults"
    rows = recipe_changes(before, recipe)
    helps = field_help()
    what = (f"the hyperparameters that differ from step {prev}" if prev
            else "the hyperparameters this step sets (the rest are the Recipe defaults)")
    lines = [f"## What changed in the recipe\n\n`mnistlab train {step}` uses {what}:\n",
             f"| hyperparameter | {label} | {step_label(step)} | meaning |", "|---|---|---|---|"]
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731  (a help text like "sgd | adam")
    lines += [f"| `--{n.replace('_', '-')}` | {cell(value_text(a))} | **{cell(value_text(b))}** | {cell(helps.get(n, ''))} |"
              for n, a, b in rows]
    if not rows:
        lines.append("| (none) | | | |")
    return "\n".join(lines)


def lesson_parts(step: str, results: dict | None = None) -> dict[str, str]:
    """{"lesson", "code", "changes", "try"}: Markdown pieces, in the order the course shows them."""
    text = fill(raw_lesson(step), results)
    lesson, _, tried = text.partition(TRY_HEADING)
    recipe = recipe_of(step)
    if recipe is None:
        code = (f"## The model's code\n\nThe `{step}` recipe is not part of this mnistlab install yet, so there "
                "is no model to show or train; `mnistlab list` shows the recipes you have.")
        changes = ""
    else:
        code, changes = model_code(recipe), changes_markdown(step)
    return {"lesson": lesson.strip(), "code": code, "changes": changes,
            "try": (TRY_HEADING + tried).strip() if tried else ""}


def lesson_markdown(step: str, results: dict | None = None) -> str:
    """The whole lesson as one Markdown document (for the notebook and the browser)."""
    key = resolve_step(step)
    if key is None:
        raise KeyError(f"unknown step {step!r}; the steps are {', '.join(steps())}")
    return "\n\n".join(p for p in lesson_parts(key, results).values() if p) + "\n"


def lesson_html(step: str, results: dict | None = None) -> str:
    """The whole lesson as an HTML fragment (for the browser), by markdown-it, which rich depends on."""
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark").enable("table").render(lesson_markdown(step, results))


def render(markdown: str, console=None) -> None:
    """Markdown in the terminal with rich; plain text if rich is missing."""
    try:
        from rich.console import Console
        from rich.markdown import Markdown
    except ImportError:
        print(markdown)
        return
    (console or Console()).print(Markdown(markdown, code_theme="monokai"))


# -- the command ---------------------------------------------------------------------------------------------
def add_arguments(p, name: str = "course") -> None:
    from .course_runs import add_arguments as add
    add(p)


def run(args) -> int:
    from .course_runs import run as run_course
    return run_course(args)
