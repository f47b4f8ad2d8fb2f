"""Train every step of the course's ladder once at its full iteration count and tabulate what it reached.

    python benchmarks/ladder.py [RECIPE ...] [--seed 0] [--out benchmarks/results/ladder.json]

Prints a Markdown table for the README and writes the summaries (with machine, threads and versions) as JSON;
results already in the JSON for other recipes are kept, so recipes can be (re)measured one at a time.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mnistlab.recipes import LADDER, get_recipe
from mnistlab.session import train, versions


def table(results: dict) -> str:
    rows = ["| step | recipe | course | max test acc. | final | wall s | steps/s | time to 99% |",
            "|---|---|---|---|---|---|---|---|"]
    for r in LADDER:
        s = results.get(r.name)
        if s is None:
            continue
        t99 = s["time_to_accuracy"].get("0.99")
        rows.append(f"| {r.step} | {r.name} | {r.course_accuracy:.1%} | {s['max_test_accuracy']:.2%} | "
                    f"{s['final_test_accuracy']:.2%} | {s['wall_seconds']:.0f} | {s['steps_per_second']:.0f} | "
                    + (f"{t99:.0f} s" if t99 is not None else "not reached") + " |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", help="default: the whole ladder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ladder.json")
    args = p.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text())["results"] if out.exists() else {}
    for name in args.recipes or [r.name for r in LADDER]:
        recipe = get_recipe(name)
        with tempfile.TemporaryDirectory() as tmp:
            s = train(recipe, display="none", run_dir=Path(tmp) / "run", device="cpu", seed=args.seed).summary
        results[recipe.name] = s
        print(f"{recipe.step} {recipe.name}: max {s['max_test_accuracy']:.4f} in {s['wall_seconds']:.0f} s", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"versions": versions(), "results": results}, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
