"""One training session as a user starts it: recipe + overrides -> run dir, data, display, loop.

`mnistlab train` and the Python API (`mnistlab.train("3.1", iterations=500)`) both come here; the loop in
loop.py knows nothing of run-dir creation, displays or resumption bookkeeping.
"""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from . import __version__
from .events import Sink
from .recipes import DEFAULT_RECIPE, Recipe, get_recipe

if TYPE_CHECKING:  # torch is imported when training starts, not when the CLI builds its parser
    import torch.nn as nn

    from .loop import Control, RunResult


class Display:
    """What a --display mode adds: sinks, and how to run the training (a window must own the main thread,
    so it runs the training in a worker; text and none just call it)."""

    def __init__(self, sinks: list[Sink] = ()):
        self.sinks = list(sinks)

    def run(self, train: Callable[[], RunResult], control: Control) -> RunResult:
        return train()


def _text_display(**_) -> Display:
    from .console import ConsoleSink
    return Display([ConsoleSink()])


# --display NAME -> a factory(recipe=, data=, run=, control=, options=) -> Display, or "module:function" for
# displays whose module imports heavy extras (matplotlib, the web stack) only when chosen.
DISPLAYS: dict[str, Callable[..., Display] | str] = {
    "text": _text_display,
    "none": lambda **_: Display(),
    "auto": "mnistlab.dashboard.live:auto_display",        # window if a display is available, else text + PNG
    "window": "mnistlab.dashboard.live:window_display",
    "notebook": "mnistlab.dashboard.notebook:notebook_display",
    "web": "mnistlab.web.live:web_display",
}
# Modules with make_sinks(recipe=, data=, run=, control=, options=) -> list[Sink]: sinks asked for by
# options whatever the display (--save-png, --save-video, --tensorboard).
SINK_PROVIDERS = ["mnistlab.dashboard.export", "mnistlab.tensorboard"]


def _load(target):
    if not isinstance(target, str):
        return target
    import importlib
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def module_exists(name: str) -> bool:
    """Whether an optional feature's module is part of this install (without importing it)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is not there
        return False


def available_displays() -> list[str]:
    return [n for n, t in DISPLAYS.items() if not isinstance(t, str) or module_exists(t.partition(":")[0])]


def extra_sinks(**ctx) -> list[Sink]:
    sinks: list[Sink] = []
    for module in SINK_PROVIDERS:
        if module_exists(module):
            sinks += _load(module + ":make_sinks")(**ctx)
    return sinks


def make_recipe(recipe: str | Recipe = DEFAULT_RECIPE, **overrides) -> Recipe:
    """The named recipe with overrides applied and checked; ValueError lists every problem."""
    base = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    r = base.replace(**{k: v for k, v in overrides.items() if v is not None})
    problems = r.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return r


def train(recipe: str | Recipe = DEFAULT_RECIPE, *, display: str = "text", run_dir: str | Path | None = None,
          resume: str | Path | None = None, device: str = "auto", dataset: str = "mnist",
          data_dir: str | Path | None = None, model: nn.Module | None = None, sinks: list[Sink] = (),
          control: Control | None = None, display_options: dict | None = None, **overrides) -> RunResult:
    """Train a recipe (by name or Recipe) or your own `model`, writing a run dir; returns the RunResult.

    Raises ValueError (bad values), RunError (run dir), DataError (data files), Diverged (NaN loss).
    Under torchrun with several processes this is data-parallel (distributed.py): rank 0 sets up, writes the
    run dir and shows the display; the other ranks train their shards silently.
    """
    from .distributed import Distributed
    dist = Distributed.start(device)  # None for a plain process
    if dist is None:
        return _train(recipe, display, run_dir, resume, device, dataset, data_dir, model, sinks, control,
                      display_options, overrides)
    try:
        if not dist.is_main:
            return dist.follow(model=model, control=control)
        return _train(recipe, display, run_dir, resume, device, dataset, data_dir, model, sinks, control,
                      display_options, overrides, dist)
    finally:
        dist.close()


def _train(recipe, display, run_dir, resume, device, dataset, data_dir, model, sinks, control, display_options,
           overrides, dist=None) -> RunResult:
    from .loop import Control, fit
    control = control or Control()
    try:
        rec, dataset, data_dir, data, run, dev = _prepare(recipe, display, run_dir, resume, device, dataset,
                                                          data_dir, model, overrides, dist)
        ctx = dict(recipe=rec, data=data, run=run, control=control, options=display_options or {})
        try:  # a display or an option that cannot work (no screen, broken ffmpeg) fails before any training
            shown = _load(DISPLAYS[display])(**ctx)
            sinks = [*sinks, *extra_sinks(**ctx), *shown.sinks]
        except ValueError:
            if resume is None:
                run.discard()  # nothing half-made left behind
            raise
    except Exception as e:
        if dist is not None:
            dist.share_setup(error=e)  # the other ranks exit quietly; this one reports
        raise
    if dist is not None:
        dist.share_setup(recipe=rec.to_dict(), dataset=dataset, data_dir=data_dir, resume=resume is not None)
    return shown.run(lambda: fit(rec, data, sinks, run=run, device=dev, control=control, model=model,
                                 resume=resume is not None, dist=dist), control)


def _prepare(recipe, display, run_dir, resume, device, dataset, data_dir, model, overrides, dist):
    """Everything checked before training: (recipe, dataset, data_dir, data, run dir, device)."""
    from .data import load as load_data
    from .distributed import check_batch
    from .loop import resolve_device
    from .runs import RunDir, RunError, default_run_dir
    if display not in available_displays():
        raise ValueError(f"unknown display {display!r}; choose one of {', '.join(available_displays())}")
    if resume is not None:
        run = RunDir.open(resume)
        config = run.config
        if not run.has_checkpoint():
            raise RunError(f"{run.path} has no checkpoint to resume from; start the run again")
        if (run.summary or {}).get("status") == "completed":
            raise RunError(f"{run.path} already completed its {config['recipe']['iterations']:,} steps; nothing to resume")
        rec = Recipe.from_dict(config["recipe"])
        dataset, data_dir = config.get("dataset", "mnist"), config.get("data_dir")
    else:
        rec = make_recipe(recipe, **overrides)
        if model is not None:  # your own network, trained with this recipe's optimiser and schedule
            rec = rec.replace(name="custom", step="", title=type(model).__name__, course_accuracy=0.0)
    dev = resolve_device(device) if dist is None else dist.device
    if dist is not None:
        check_batch(rec.batch_size, dist.world)
    data = load_data(dataset, data_dir)  # before the run dir exists: a data error leaves nothing behind
    if rec.batch_size > len(data.train_x):
        raise ValueError(f"--batch-size {rec.batch_size} is larger than the training set ({len(data.train_x):,} images)")
    if resume is None:
        run = RunDir.create(run_dir or default_run_dir(rec.name), {
            "recipe": rec.to_dict(), "dataset": dataset,
            "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
            "model_class": type(model).__module__ + "." + type(model).__qualname__ if model is not None else None,
            "device": str(dev), "versions": versions(), "argv": sys.argv, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "world_size": dist.world if dist else 1,
        })
    return rec, dataset, data_dir, data, run, dev


def versions() -> dict:
    import numpy
    import torch
    return {"mnistlab": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform()}
