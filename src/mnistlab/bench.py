"""`mnistlab bench RECIPE... --seeds N`: time to 98 / 99 / 99.5% test accuracy over seeds, steps/s, memory.

Each (recipe, seed) trains in its own process (`mnistlab train RECIPE --seed S --display none`): a crash or
a divergence ends one row, not the table, and the peak memory is that run's alone. Times are seconds of
training as summary.json counts them, test evaluations included (the user waits for them too); process
start and data loading are not. The JSON is rewritten after every run, so an interrupted benchmark keeps
what it measured. Seeds are 0 .. N-1.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = ("0.98", "0.99", "0.995")


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    from .cli import add_recipe_overrides
    p.add_argument("recipes", nargs="+", metavar="RECIPE", help="names or course steps, e.g. fast fast995 3.1")
    p.add_argument("--seeds", type=int, default=5, help="runs per recipe, seeds 0..N-1 (default 5)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, help="torch threads per run (default: torch's choice, one per core)")
    p.add_argument("--json", metavar="FILE", help="write every run's summary and the statistics here")
    p.add_argument("--runs-dir", metavar="DIR", help="keep each run dir here (default: deleted after reading)")
    add_recipe_overrides(p)


def run(args) -> int:
    from .cli import overrides_from
    from .loop import resolve_device
    from .session import make_recipe, versions
    overrides = overrides_from(args)
    problem = ("--seeds must be at least 1" if args.seeds < 1 else
               "bench runs the seeds 0..N-1 itself: say how many with --seeds, not --seed" if "seed" in overrides else
               "--threads must be at least 1" if args.threads is not None and args.threads < 1 else None)
    try:  # every recipe and override checked before the first run, so a typo costs nothing
        recipes = [make_recipe(name, **overrides) for name in args.recipes]
        device = resolve_device(args.device)
    except ValueError as e:
        problem = problem or str(e)
    if problem:
        print(f"mnistlab: error: {problem}", file=sys.stderr)
        return 2
    report = {"command": "mnistlab bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "",
              "machine": machine(device, args.threads), "versions": versions(), "recipes": {}}
    keep = Path(args.runs_dir) if args.runs_dir else None
    print(f"{report['machine']}; {args.seeds} seed(s) per recipe", flush=True)
    with tempfile.TemporaryDirectory(prefix="mnistlab-bench-") as tmp:
        for recipe in recipes:
            runs: list[dict] = []
            for seed in range(args.seeds):
                run_dir = (keep or Path(tmp)) / f"{recipe.name}-seed{seed}"
                result = train_one(recipe.name, seed, run_dir, args, overrides)
                runs.append(result)
                report["recipes"][recipe.name] = {"runs": runs, "stats": stats(runs)}
                print(run_line(recipe.name, result), flush=True)
                if args.json:
                    from .runs import write_json_atomic
                    write_json_atomic(args.json, report)
    print()
    print(table(report))
    return 0


def train_one(recipe: str, seed: int, run_dir: Path, args, overrides: dict) -> dict:
    """One training in a child process; its summary.json, or {"seed", "error"} saying what went wrong."""
    cmd = [sys.executable, "-m", "mnistlab", "train", recipe, "--seed", str(seed), "--display", "none",
           "--device", args.device, "--run-dir", str(run_dir), *override_flags(overrides)]
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    summary_file = run_dir / "summary.json"
    if proc.returncode != 0 or not summary_file.is_file():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return {"seed": seed, "error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(summary_file.read_text())


def override_flags(overrides: dict) -> list[str]:
    out = []
    for name, value in overrides.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value).lower() if isinstance(value, bool) else str(value)
        out += ["--" + name.replace("_", "-"), text]
    return out


def stats(runs: list[dict]) -> dict:
    """Median and range over the seeds. A target a seed never reached counts as later than any time, so the
    median is null ("not reached") when half the seeds or more missed it."""
    ok = [r for r in runs if "error" not in r]
    out: dict = {"seeds": len(runs), "failed": len(runs) - len(ok)}
    for t in TARGETS:
        times = [r["time_to_accuracy"].get(t) for r in ok]
        reached = sorted(x for x in times if x is not None)
        ranked = reached + [float("inf")] * (len(times) - len(reached))
        median = statistics.median(ranked) if ranked else None
        out[f"time_to_{t}"] = {"median": None if median in (None, float("inf")) else round(median, 3),
                               "min": reached[0] if reached else None, "max": reached[-1] if reached else None,
                               "reached": f"{len(reached)}/{len(runs)}"}
    for key in ("max_test_accuracy", "final_test_accuracy", "steps_per_second", "wall_seconds", "peak_memory_mb"):
        values = [r[key] for r in ok if r.get(key) is not None]
        out[key] = ({"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None)
    return out


def machine(device, threads: int | None) -> str:
    import torch
    from .loop import device_name
    n = threads or torch.get_num_threads()
    return f"{device_name(device)}, " + (f"{n} thread(s)" if device.type == "cpu" else str(device))


def _time(t: dict) -> str:
    if t["median"] is None:
        return f"not reached ({t['reached']})"
    spread = f" ({t['min']:.1f}-{t['max']:.1f})" if t["min"] != t["max"] else ""
    return f"{t['median']:.2f} s{spread}" + ("" if t["reached"].split("/")[0] == t["reached"].split("/")[1] else f" {t['reached']}")


def run_line(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name} seed {r['seed']}: failed: {r['error']}"
    tta = r["time_to_accuracy"]
    times = ", ".join(f"{float(t):.1%} {'-' if tta.get(t) is None else format(tta[t], '.2f') + ' s'}" for t in TARGETS)
    return (f"{name} seed {r['seed']}: max {r['max_test_accuracy']:.2%}; time to {times}; "
            f"{r['steps_per_second']:.0f} steps/s, {r['wall_seconds']:.1f} s, peak {r['peak_memory_mb']:.0f} MB")


def table(report: dict) -> str:
    rows = ["| recipe | seeds ok | time to 98% | time to 99% | time to 99.5% | max accuracy (min-max) | steps/s | peak MB |",
            "|---|---|---|---|---|---|---|---|"]
    for name, entry in report["recipes"].items():
        s = entry["stats"]
        ok = s["seeds"] - s["failed"]
        if not ok:
            rows.append(f"| {name} | 0/{s['seeds']} | - | - | - | - | - | - |")
            continue
        acc = s["max_test_accuracy"]
        rows.append(f"| {name} | {ok}/{s['seeds']} | " + " | ".join(_time(s[f"time_to_{t}"]) for t in TARGETS)
                    + f" | {acc['median']:.2%} ({acc['min']:.2%}-{acc['max']:.2%}) | "
                    f"{s['steps_per_second']['median']:.0f} | {s['peak_memory_mb']['max']:.0f} |")
    return f"{report['machine']}, {time.strftime('%Y-%m-%d')}\n\n" + "\n".join(rows)
