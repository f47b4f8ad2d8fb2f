"""A step's accuracy over many seeds, each a full run in its own process (benchmarks/speed.py's --distribution
and --final): how a recipe's result is spread, not one lucky seed.

    python3 benchmarks/speed.py --distribution        # 5.0 over seeds 0-29: mean, sd, lowest, how many >= 99.0%
    python3 benchmarks/speed.py --final               # 5.1's final test accuracy over seeds 0-4 (~50 min)

5.0's figure is its printed "max test accuracy" (its last test, after the last step, is nearly always its
best: the run says how often); 5.1's is its printed "final test accuracy", the test after the last step,
which no choice among tests has touched. Each run's training seconds, whole wall time, CPU seconds and the
load average before and after are kept beside it: results in benchmarks/results/seeds.json, keyed by step,
condition and machine like speed.json's rows.
"""
import math
import os

import ladder
import machine

LEVEL = 0.99                       # 5.0's target level; 5.1's aims are a mean and a best
PLANS = {  # flag -> (step, default seeds, which printed figure, what it is called)
    "distribution": ("5.0", 30, "max_accuracy", "max test accuracy"),
    "final": ("5.1", 5, "stated_final", "final test accuracy"),
}


def spread(values, level=LEVEL):
    """Accuracies over seeds -> mean, sample sd (n - 1), lowest, median, highest, and how many reach `level`."""
    n = len(values)
    if not n:
        raise ValueError("no runs to summarise")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    ranked = sorted(values)
    median = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2
    return {"runs": n, "mean": round(mean, 6), "sd": round(sd, 6), "min": ranked[0], "median": round(median, 6),
            "max": ranked[-1], "at_level": sum(v >= level for v in values), "level": level}


def summary_line(step, figure, s):
    return (f"{step} {figure} over {s['runs']} seeds: mean {s['mean']:.2%}, sd {s['sd']:.2%}, lowest {s['min']:.2%}, "
            f"median {s['median']:.2%}, best {s['max']:.2%}; "
            f"{s['at_level']} of {s['runs']} at {s['level']:.1%} or more")


def run_seed(step, seed, env=None):
    """One full run of the step in --text mode -> its figures (ladder.run_step's) with the load after it."""
    row = ladder.run_step(step, seed=seed, env=env)
    return dict(row, seed=seed, load_after=round(os.getloadavg()[0], 2))


def seed_line(step, figure, r):
    final = "" if r.get("stated_final") is None else f", final {r['stated_final']:.2%}"
    return (f"{step} seed {r['seed']}: {figure} {r[PLAN_KEYS[figure]]:.2%} "
            f"(max of its tests {r['max_accuracy']:.2%} at {r['max_at']:,}, "
            f"last test {r['final_accuracy']:.2%}{final}), {r['training_s']:.1f} s training, "
            f"{r['wall_s']:.1f} s in all, {r['cpu_s']:.0f} s CPU, load {r['load_before']:.2f} before, "
            f"{r['load_after']:.2f} after")


PLAN_KEYS = {figure: key for _, _, key, figure in PLANS.values()}


def seeds_run(plan, seeds, results, save, record, cond, key, env=None, runner=run_seed):
    """Run `plan` ("distribution" or "final") for `seeds`, saving after every run; -> the stored entry."""
    step, _, figure_key, figure = PLANS[plan]
    runs = []
    for seed in seeds:
        r = runner(step, seed, env=env)
        if r.get(figure_key) is None:
            raise ValueError(f"{r['script']} (seed {seed}) printed no {figure} line")
        runs.append({k: v for k, v in r.items() if k != "curve"})
        print(seed_line(step, figure, r), flush=True)
        entry = {"step": step, "script": r["script"], "figure": figure, "condition": cond, "machine": record,
                 "runs": runs, "spread": spread([x[figure_key] for x in runs]),
                 "training_s": spread([x["training_s"] for x in runs], level=math.inf),
                 "last_is_max": sum(x["final_accuracy"] >= x["max_accuracy"] for x in runs)}
        results[key(step, cond, record)] = entry
        save()
    return entry


def report(entry):
    s, t = entry["spread"], entry["training_s"]
    return (summary_line(entry["step"], entry["figure"], s) + "\n"
            f"  training {t['median']:.1f} s median ({t['min']:.1f}-{t['max']:.1f}); the last test was the best "
            f"in {entry['last_is_max']} of {s['runs']} runs")


def table(entries):
    """The stored spreads as a markdown table, one row per step, condition and machine."""
    header = ("| step | figure | seeds | mean | sd | lowest | median | best | at 99.0% or more | training s, median "
              "(min-max) | load before | machine |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in sorted(entries):
        e = entries[k]
        s, t = e["spread"], e["training_s"]
        loads = [r["load_before"] for r in e["runs"]]
        figure = e["figure"] + ("" if e["condition"] == "no added load" else f" ({e['condition']})")
        lines.append(f"| {e['script']} | {figure} | {s['runs']} | {s['mean']:.2%} | {s['sd']:.3%} "
                     f"| {s['min']:.2%} | {s['median']:.2%} | {s['max']:.2%} | {s['at_level']}/{s['runs']} "
                     f"| {t['median']:.1f} ({t['min']:.1f}-{t['max']:.1f}) | {min(loads):.1f}-{max(loads):.1f} | "
                     f"{machine.short(e.get('machine') or {})} |")
    return "\n".join(lines)
