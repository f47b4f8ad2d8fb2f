"""The thin command line: parse flags, call library functions, print what they return.

A user mistake (bad flag, missing file, unknown recipe) ends with one `mnistlab: error: ...` line and exit
status 2 (usage) or 1 (data, run dir, divergence); tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from . import __version__

# Recipe fields that describe a recipe rather than tune it: not overridable from the command line.
_FIXED = {"name", "step", "title", "course_accuracy"}


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_PARSERS = {"int": int, "float": float, "str": str, "bool": _bool, "tuple[int, ...]": _int_tuple}


def add_recipe_overrides(p: argparse.ArgumentParser) -> None:
    """One flag per Recipe field (`--lr-max`), typed from the dataclass, help from its comment."""
    from .recipes import Recipe, field_help
    helps = field_help()
    g = p.add_argument_group("recipe overrides (default: the recipe's value)")
    for f in dataclasses.fields(Recipe):
        if f.name not in _FIXED:
            g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_PARSERS[str(f.type)],
                           default=None, metavar=str(f.type).split("[")[0].upper(), help=helps.get(f.name))


def overrides_from(args: argparse.Namespace) -> dict:
    from .recipes import Recipe
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)
            if f.name not in _FIXED and getattr(args, f.name, None) is not None}


# -- list ---------------------------------------------------------------------------------------------------
def cmd_list(args) -> int:
    from .recipes import RECIPES
    print(f"{'step':<5} {'recipe':<30} {'course':>7} {'steps':>7}  idea")
    for r in RECIPES.values():
        course = f"{r.course_accuracy:.1%}" if r.course_accuracy else "-"
        print(f"{r.step or '-':<5} {r.name:<30} {course:>7} {r.iterations:>7,}  {r.title}")
    return 0


# -- train --------------------------------------------------------------------------------------------------
def add_train(p: argparse.ArgumentParser) -> None:
    from .recipes import DEFAULT_RECIPE
    from .session import available_displays
    p.add_argument("recipe", nargs="?", default=None, help=f"name or course step (default {DEFAULT_RECIPE}); see `mnistlab list`")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-dir", help="where to write the run (default runs/<time>-<recipe>)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--dataset", default="mnist", help="mnist (bundled) or fashion-mnist")
    p.add_argument("--data-dir", help="train on any folder of MNIST-format IDX files")
    p.add_argument("--display", default="auto", choices=available_displays(),
                   help="auto (default): the dashboard window if there is a screen, else text + RUN_DIR/dashboard.png; "
                        "window; text: progress bar and per-test lines; none: only errors and the final summary")
    for name in TRAIN_OPTION_PROVIDERS:
        if (m := _module(name)) is not None:
            m.add_train_arguments(p)
    add_recipe_overrides(p)


_TRAIN_CORE = {"command", "recipe", "resume", "run_dir", "device", "dataset", "data_dir", "display"}


def cmd_train(args, parser) -> int:
    from .console import format_summary
    from .distributed import is_main_process
    from .loop import Diverged
    from .recipes import DEFAULT_RECIPE
    from .session import train
    overrides = overrides_from(args)
    display_options = {k: v for k, v in vars(args).items() if k not in overrides and k not in _TRAIN_CORE}
    if args.resume and (overrides or args.recipe or args.run_dir):
        parser.error("--resume continues a run as it was configured; give no recipe, --run-dir or overrides with it")
    try:
        result = train(args.recipe or DEFAULT_RECIPE, display=args.display, run_dir=args.run_dir,
                       resume=args.resume, device=args.device, dataset=args.dataset, data_dir=args.data_dir,
                       display_options=display_options, **overrides)
    except ValueError as e:  # bad values: a usage error
        parser.error(str(e))
    except Diverged as e:
        if is_main_process():
            print(f"mnistlab: error: training diverged: {e}", file=sys.stderr)
        return 1
    if result.run_dir is None:  # a torchrun rank > 0: rank 0 reports
        return 130 if result.status == "interrupted" else 0
    print(format_summary(result.summary))
    if result.status == "interrupted":
        print(f"interrupted at step {result.summary['iterations']:,}; continue with: "
              f"mnistlab train --resume {result.run_dir}", file=sys.stderr)
        return 130
    print(f"run dir: {result.run_dir}")
    return 0


# -- eval ---------------------------------------------------------------------------------------------------
def cmd_eval(args) -> int:
    import torch
    from .data import load
    from .metrics import evaluate
    from .runs import RunDir
    run = RunDir.open(args.run_dir)
    model, recipe = run.load_model("cpu")
    config = run.config
    data = load(config.get("dataset", "mnist"), config.get("data_dir"))
    loss, acc, pred = evaluate(model, data.test_x, data.test_y)
    confusion = torch.zeros(10, 10, dtype=torch.long)
    confusion.index_put_((data.test_y, pred), torch.ones_like(pred), accumulate=True)  # rows: true, cols: predicted
    per_class = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    if args.json:
        print(json.dumps({"run_dir": str(run.path), "recipe": recipe.name, "test_accuracy": acc, "test_loss": loss,
                          "per_class_accuracy": per_class, "confusion": confusion.tolist()}, indent=2))
        return 0
    print(f"{run.path}: {recipe.name}, test accuracy {acc:.4f} ({int((pred != data.test_y).sum())} mistakes "
          f"of {len(pred):,}), test loss {loss:.4f}")
    print("per class: " + "  ".join(f"{data.classes[i]}: {a:.4f}" for i, a in enumerate(per_class)))
    print("confusion matrix (rows: true class, columns: predicted)")
    print("      " + "".join(f"{i:>6}" for i in range(10)))
    for i, row in enumerate(confusion.tolist()):
        print(f"{i:>6}" + "".join(f"{v:>6}" for v in row))
    return 0


# -- predict ------------------------------------------------------------------------------------------------
def cmd_predict(args) -> int:
    import torch
    from .preprocess import ImageError, load_digit
    from .runs import RunDir
    model, _ = RunDir.open(args.run_dir).load_model("cpu")
    failures = 0
    for path in args.images:
        try:
            x = torch.from_numpy(load_digit(path)).view(1, 1, 28, 28)
        except ImageError as e:
            print(f"mnistlab: error: {e}", file=sys.stderr)
            failures += 1
            continue
        with torch.no_grad():
            probs = torch.softmax(model(x), 1)[0]
        digit = int(probs.argmax())
        if args.json:
            print(json.dumps({"file": path, "class": digit, "probabilities": [round(p, 6) for p in probs.tolist()]}))
        else:
            print(f"{path}: {digit}  (" + " ".join(f"{i}:{p:.3f}" for i, p in enumerate(probs.tolist())) + ")")
    return 1 if failures else 0


# -- commands that live beside their feature ------------------------------------------------------------------
# name -> (module, help). The module has add_arguments(parser) and run(args) -> exit code, and imports its
# heavy dependencies inside run(), so building the parser stays fast. A module not present is skipped.
COMMANDS = {
    "show": ("mnistlab.dashboard.commands", "re-draw the dashboard of a finished or running run"),
    "compare": ("mnistlab.dashboard.commands", "overlay the test curves of several runs"),
    "bench": ("mnistlab.bench", "time to 98/99/99.5% over seeds, with steps/s and memory"),
    "ensemble": ("mnistlab.ensemble", "average the probabilities of several trained runs"),
    "export": ("mnistlab.export", "the model as ONNX or TorchScript"),
    "serve": ("mnistlab.web.commands", "prediction service and draw-a-digit page"),
    "tune": ("mnistlab.tune", "parallel hyperparameter search (Optuna)"),
    "course": ("mnistlab.course", "the course, one lesson per step"),
}
# Modules with add_train_arguments(parser): options of `train` that belong to a feature (--save-png, --port).
TRAIN_OPTION_PROVIDERS = ["mnistlab.dashboard.commands", "mnistlab.web.commands"]


def _module(name: str):
    import importlib
    from .session import module_exists
    return importlib.import_module(name) if module_exists(name) else None


# -- the parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnistlab", description="Train and watch networks that read handwritten digits.")
    parser.add_argument("--version", action="version", version=f"mnistlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="the recipes, with the accuracy the course reports")
    add_train(sub.add_parser("train", help="train a recipe (default 3.1), writing a run dir"))
    p = sub.add_parser("eval", help="test accuracy, per-class accuracy and confusion matrix of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("predict", help="classify PNG/JPEG images of digits with a trained run")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    for name, (module, help_text) in COMMANDS.items():
        if (m := _module(module)) is not None:
            m.add_arguments(sub.add_parser(name, help=help_text), name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and usage errors end here, before torch is imported
    from .data import DataError
    from .distributed import PeerFailed
    from .recipes import UnknownRecipe
    from .runs import RunError
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"list": cmd_list, "eval": cmd_eval, "predict": cmd_predict}
    try:
        if args.command == "train":
            return cmd_train(args, sub_parser(parser, "train"))
        if args.command in handlers:
            return handlers[args.command](args)
        return _module(COMMANDS[args.command][0]).run(args)
    except UnknownRecipe as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 2
    except (DataError, RunError) as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 1
    except PeerFailed:  # torchrun rank > 0: rank 0 reports the error and exits with its status; exiting 0
        return 0          # here lets it (torchrun stops every rank as soon as one fails)
    except KeyboardInterrupt:
        print("mnistlab: interrupted", file=sys.stderr)
        return 130


def sub_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


if __name__ == "__main__":
    raise SystemExit(main())
