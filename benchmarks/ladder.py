"""Train every step of the course's ladder once at its full iteration count and tabulate what it reached.

    python benchmarks/ladder.py [RECIPE ...] [--seed 0] [--out benchmarks/results/ladder.json]
    python benchmarks/ladder.py --add-run RUN_DIR ...   # record finished runs (e.g. `mnistlab bench --runs-dir`)

Prints a Markdown table for the README and writes the summaries (with machine, threads and versions) as JSON;
results already in the JSON for other recipes are kept, so recipes can be (re)measured one at a time.
The default is the whole ladder plus the `fast` and `fast995` recipes; `best` is recorded from a bench run. The same JSON
is copied into the package (src/mnistlab/lessons/measured.json), where `mnistlab course` fills the figures
of its lessons from it: a lesson states only what this script measured.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mnistlab.recipes import LADDER, RECIPES, get_recipe
from mnistlab.runs import write_json_atomic
from mnistlab.session import train, versions

LESSONS_COPY = Path(__file__).resolve().parents[1] / "src" / "mnistlab" / "lessons" / "measured.json"
FINAL = ("fast", "fast995", "best")  # the recipes past the course, when recipes.py has them


def table(results: dict) -> str:
    rows = ["| step | recipe | course | max test acc. | final | wall s | steps/s | time to 99% |",
            "|---|---|---|---|---|---|---|---|"]
    for r in [*LADDER, *(RECIPES[n] for n in FINAL if n in RECIPES)]:
        s = results.get(r.name)
        if s is None:
            continue
        t99 = s["time_to_accuracy"].get("0.99")
        course = f"{r.course_accuracy:.1%}" if r.course_accuracy else "-"
        rows.append(f"| {r.step or r.name} | {r.name} | {course} | {s['max_test_accuracy']:.2%} | "
                    f"{s['final_test_accuracy']:.2%} | {s['wall_seconds']:.0f} | {s['steps_per_second']:.0f} | "
                    + (f"{t99:.0f} s" if t99 is not None else "not reached") + " |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", help="default: the whole ladder, then fast and fast995; `best` (10 minutes "
                   "a seed) is measured by `mnistlab bench best --runs-dir DIR` and recorded with --add-run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ladder.json")
    p.add_argument("--lessons-copy", default=str(LESSONS_COPY),
                   help="also write the JSON here, for the course's lessons ('' to skip)")
    p.add_argument("--add-run", nargs="+", metavar="RUN_DIR", default=[],
                   help="instead of training, record the summary.json of these finished runs (seed 0 of a recipe)")
    args = p.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text())["results"] if out.exists() else {}

    def save(s: dict) -> None:
        results[s["recipe"]] = s
        print(f"{s['step_name']} {s['recipe']}: max {s['max_test_accuracy']:.4f} in {s['wall_seconds']:.0f} s", flush=True)
        for path in filter(None, [out, args.lessons_copy and Path(args.lessons_copy)]):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, {"versions": versions(), "results": results})  # a kill leaves the old file

    for run_dir in args.add_run:
        s = json.loads((Path(run_dir) / "summary.json").read_text())
        if s["status"] != "completed" or s["dataset"] != "mnist" or s["recipe"] not in RECIPES:
            raise SystemExit(f"{run_dir}: not a completed MNIST run of a named recipe")
        save(s)
    default = [r.name for r in LADDER] + [n for n in FINAL if n in RECIPES and n != "best"]
    for name in args.recipes or ([] if args.add_run else default):
        recipe = get_recipe(name)
        with tempfile.TemporaryDirectory() as tmp:
            save(train(recipe, display="none", run_dir=Path(tmp) / "run", device="cpu", seed=args.seed).summary)
    print(table(results))


if __name__ == "__main__":
    main()
