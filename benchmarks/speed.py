"""Ratios measured side by side in one run, the slowdown under load, and time to 98/99/99.5% per step.

    python3 benchmarks/speed.py                                # the ratios run (about 5 min on 2 idle cores)
    python3 benchmarks/speed.py --isa avx2                     # the same, oneDNN capped at AVX2 (an emulation)
    python3 benchmarks/speed.py --load 2 --pair                # 1.0, 3.1, 4.2, 5.0 alone / beside 2 busy loops
                                                               #   / two at once: the slowdowns (about 6 min)
    python3 benchmarks/speed.py --steps 5.0 keras --seeds 5    # time to 98/99/99.5% of some steps
    python3 benchmarks/speed.py --steps 3.1 4.2 --until 0.99   # stop each run at its first test >= 99%
    python3 benchmarks/speed.py --distribution                 # 5.0's accuracy over seeds 0-29 (about 6 min)
    python3 benchmarks/speed.py --final                        # 5.1's final test accuracy, seeds 0-4 (~50 min)
    python3 benchmarks/speed.py --table                        # the markdown tables from the JSON

Every run starts by printing the machine line (benchmarks/machine.py: CPU, vector extensions, the ISA oneDNN
really uses, usable cores, load, versions), and every result stores that record beside it.
The ratios run interleaves, seed by seed, 5.0 (5 seeds, full runs: their accuracy is the gate), the Keras
peer, 3.1 and 4.2 (1 seed each by default, stopped at their first test >= 99%: they are long), and prints
how many times sooner 5.0 reaches 99% (medians) than each, than the course's best (its soonest step), the
targets, and the same ratios from the results file's previous ratios run of the same machine.
--load N / --pair run each step alone, then beside N busy loops / as two copies at once, seed by seed, and
give the slowdown against the fair share of the cores (2x for two busy loops or a pair on 2 cores).
Each run is its own process, in --text mode, as a learner runs it. The time to a level is measured as the
script sees it: from its first training step to the end of its first test at or above that level, every
test before it included; start-up (TensorFlow's import, the graph, the data) is reported apart. It is read
from when each printed line arrives, anchored by the script's "trained N iterations in X s" line. "From
Enter" is the learner's whole wait: from launching the command to the arrival of its first test line at or
above the level, start-up included (the ratios run gives 5.0's and the Keras peer's, and their ratio).
A level a seed never reached counts as later than any time. Results: benchmarks/results/speed.json.
--distribution and --final run one step's full runs seed after seed and give the spread of its accuracy
(benchmarks/seeds.py); their results: benchmarks/results/seeds.json.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]
import course  # (the steps)
import machine  # (the machine line)
import seeds as seedruns  # (--distribution, --final)
import speedstats as stats
from speedruns import BusyLoop, run, run_pair  # noqa: F401  (speed.run: what the tests replace)
from speedstats import LEVELS, PEER, FAST, aggregate, spread, time_to_levels  # noqa: F401
from speedtable import table, load_table, ratios_table

RESULTS = os.path.join(HERE, "results", "speed.json")
SEEDS_RESULTS = os.path.join(HERE, "results", "seeds.json")
STEPS = list(course.steps()) + [PEER]
LOAD_STEPS = ["1.0", "3.1", "4.2", "5.0"]
LOAD_ITERATIONS = {"3.1": 1001, "4.2": 201}      # short runs for the slowdown; 1.0 and 5.0 run in full
RATIO_PLAN = [(FAST, None), (PEER, 0.99), ("3.1", 0.99), ("4.2", 0.99)]   # (step, stop at)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ratios", action="store_true", help="the ratios run (the default when no --steps, --load, "
                   "--pair or --table is given): 5.0 against the Keras peer, 3.1 and 4.2, side by side")
    p.add_argument("--distribution", action="store_true", help="5.0's max test accuracy over seeds 0..N-1 "
                   "(--seeds, default 30), each a full run: mean, sd, lowest, how many at 99.0%% or more")
    p.add_argument("--final", action="store_true", help="5.1's final test accuracy (the test after its last "
                   "step) over seeds 0..N-1 (--seeds, default 5): about 10 minutes a seed on 2 cores")
    p.add_argument("--steps", nargs="+", metavar="STEP", help="steps to time (" + " ".join(STEPS) + "); with "
                   "--load or --pair, the steps to load (default " + " ".join(LOAD_STEPS) + ")")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 per step (default 1; 5.0's in the "
                   "ratios run: 5)")
    p.add_argument("--peer-seeds", type=int, default=1, metavar="N",
                   help="the ratios run's seeds for the Keras peer, 3.1 and 4.2 (default 1: each takes minutes)")
    p.add_argument("--threads", type=int, metavar="N", help="pass --threads N to every run (default: theirs)")
    p.add_argument("--isa", choices=sorted(machine.ISAS), help="cap oneDNN's instruction set "
                   "(ONEDNN_MAX_CPU_ISA) in every run: avx2 on an AVX-512 CPU approximates an AVX2 one")
    p.add_argument("--load", type=int, default=0, metavar="N",
                   help="run each step alone and beside N busy-loop processes (1-8): the slowdown")
    p.add_argument("--pair", action="store_true", help="run each step alone and two copies at once: the slowdown")
    p.add_argument("--iterations", type=int, metavar="N", help="with --load/--pair: every step's iterations "
                   "(default 3.1 1,001, 4.2 201, the others in full)")
    p.add_argument("--until", type=float, metavar="ACC",
                   help="with --steps: stop each run at its first test at or above ACC (0.9-1), e.g. 0.99")
    p.add_argument("--out", default=RESULTS, help="results file (default benchmarks/results/speed.json)")
    p.add_argument("--seeds-out", default=SEEDS_RESULTS, help="results file of --distribution and --final "
                   "(default benchmarks/results/seeds.json)")
    p.add_argument("--table", action="store_true", help="print the tables from the results files and exit")
    args = p.parse_args(argv)
    loading = args.load or args.pair
    if args.steps is not None:
        unknown = [s for s in args.steps if s not in STEPS]
        if unknown:
            p.error(f"unknown step {', '.join(unknown)} (steps: {' '.join(STEPS)})")
        if args.ratios:
            p.error("--ratios runs its own steps (5.0, keras, 3.1, 4.2): leave out --steps")
        if loading and PEER in args.steps:
            p.error("--load and --pair run the course's steps; the Keras peer has no --iterations: leave out keras")
    for name in ("seeds", "peer_seeds", "threads", "iterations"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not 0 <= args.load <= 8:
        p.error(f"--load must be between 0 and 8 busy processes, got {args.load}")
    if args.until is not None and not 0.9 <= args.until <= 1:
        p.error(f"--until is a test accuracy between 0.9 and 1, got {args.until}")
    if args.iterations and not loading:
        p.error("--iterations is for --load and --pair (short runs for a slowdown); times to a level need full runs")
    if args.until is not None and (loading or args.steps is None):
        p.error("--until is for --steps runs (the ratios run stops the long steps at 99% itself)")
    if args.ratios and loading:
        p.error("--ratios and --load/--pair are two runs: run them one after the other")
    spreads = [f for f in ("distribution", "final") if getattr(args, f)]
    others = [f for f, on in (("--ratios", args.ratios), ("--load/--pair", loading), ("--steps", args.steps),
                              ("--table", args.table), ("--peer-seeds", args.peer_seeds != 1),
                              ("--threads", args.threads)) if on]
    if spreads and (len(spreads) > 1 or others):
        p.error(f"--{spreads[0]} is a run of its own: leave out " + ", ".join(
            [f"--{f}" for f in spreads[1:]] + others))
    if args.isa:
        _, flags = machine.cpuinfo()
        needs = {"avx2": "avx2", "avx512": "avx512f"}[args.isa]
        if needs not in flags:
            p.error(f"--isa {args.isa}: this CPU has no {needs} ({machine.vector_class(flags)} at most)")
    args.mode = ("table" if args.table else "load" if loading else "steps" if args.steps else
                 spreads[0] if spreads else "ratios")
    return args


def condition(args, until=None):
    parts = [f"{args.load} busy loop" + "s" * (args.load > 1) if args.load else "no added load"]
    parts += [f"--threads {args.threads}"] if args.threads else []
    parts += [f"oneDNN capped at {machine.ISAS[args.isa]}"] if args.isa else []
    parts += [f"until {until:g}"] if until else []
    return ", ".join(parts)


def key(step, cond, record):
    """A row's key in the results file: the step, its condition and its machine, so that a run on another
    machine (or under the AVX2 cap) adds its rows beside the others instead of replacing them."""
    return f"{step} [{cond}] on {machine.short(record)}"


def save(results, path):
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)


def load_results(path):
    results = json.load(open(path)) if os.path.exists(path) else {}
    for part in ("rows", "runs", "load"):
        results.setdefault(part, {})
    results.setdefault("ratio_runs", [])
    for row in results["rows"].values():     # rows from before machine records: the file's machine then
        row.setdefault("machine", results.get("machine") or {})
    # keys from before the machine was part of them: "STEP [CONDITION]" gets its row's machine
    for part in ("rows", "load"):
        for old in [k for k in results[part] if k.endswith("]")]:
            entry = results[part].pop(old)
            step, cond = old[:-1].split(" [", 1)
            new = key(step, cond, entry.get("machine") or {})
            results[part][new] = entry
            if part == "rows" and old in results["runs"]:
                results["runs"][new] = results["runs"].pop(old)
    # ratios from before the ratios run: computed across separate runs, kept in git history, not carried on
    results.pop("ratios", None)
    return results


def during(runs):
    """What the runs saw, for the closing machine line: the highest load average after a run, the median
    count of runnable threads, the largest share of CPU the host stole."""
    pick = lambda k: [r[k] for r in runs if r.get(k) is not None]  # noqa: E731
    return {"load_after": max(pick("load_after"), default=None),
            "runnable": stats.spread(pick("runnable"))["median"] if pick("runnable") else None,
            "steal": max(pick("steal"), default=None)}


def report(step, seed, cond, r):
    t = r["times"]
    steal = "-" if r["steal"] is None else format(r["steal"], ".1%")
    print(f"{step} seed {seed} ({cond}): max {r['max_accuracy']:.2%}, to 98/99/99.5%: {t['0.98']} / {t['0.99']} / "
          f"{t['0.995']} s, from Enter to 99%: {(r.get('wall_times') or {}).get('0.99')} s, "
          f"{r['training_s']:.1f} s training ({r['s_per_100']:.2f} s/100 it), start-up "
          f"{r['startup_s']:.1f} s, load {r['load_before']:.2f} before, {r['runnable']} runnable during, "
          f"stolen {steal}", flush=True)


def record_row(results, key, runs, cond, record):
    results["runs"][key] = runs
    results["rows"][key] = dict(aggregate(runs), condition=cond, machine=record)


def timed_runs(args, plan, record, results, env):
    """plan [(step, seeds, until)] -> ({step: row}, [every run]), the runs interleaved (speedstats.interleave)."""
    untils = {step: until for step, _, until in plan}
    runs = {step: [] for step, _, _ in plan}
    for step, seed in stats.interleave([(step, seeds) for step, seeds, _ in plan]):
        cond = condition(args, untils[step])
        r = run(step, seed, args.threads, untils[step], env=env)
        report(step, seed, cond, r)
        runs[step].append(r)
        record_row(results, key(step, cond, record), runs[step], cond, record)
        save(results, args.out)
    rows = {step: results["rows"][key(step, condition(args, untils[step]), record)] for step in runs}
    return rows, [r for rs in runs.values() for r in rs]


def ratios_run(args, record, results, env, argv):
    seeds, peer_seeds = list(range(args.seeds or 5)), list(range(args.peer_seeds))
    plan = [(step, seeds if step == FAST else peer_seeds, until) for step, until in RATIO_PLAN]
    rows, seen = timed_runs(args, plan, record, results, env)
    found = stats.ratios(rows)
    previous = stats.against_previous(found, record, results["ratio_runs"])
    verdicts = stats.verdicts(rows, found)
    results["ratio_runs"].append({
        "date": record["date"], "machine": record, "command": "python3 benchmarks/speed.py " + " ".join(argv),
        "ratios": found, "previous": previous, "verdicts": [[ok, text] for ok, text in verdicts],
        "rows": {s: {k: v for k, v in r.items() if k != "machine"} for s, r in rows.items()}})
    save(results, args.out)
    print("\n" + machine.line(record, during(seen)))
    print(ratios_table(results["ratio_runs"][-1:]))
    for ok, text in verdicts:
        print(f"  {'met' if ok else 'not measured' if ok is None else 'NOT met'}: {text}")
    print("  previous: " + previous["note"])


def load_run(args, record, results, env):
    steps = args.steps or LOAD_STEPS
    seeds = list(range(args.seeds or 1))
    cores = record.get("cores_usable") or 1
    busy = min(args.threads or cores, cores)          # the threads a step keeps running (5.0: its towers)
    seen = []
    modes = ([("busy", f"{args.load} busy loop" + "s" * (args.load > 1), args.load)] if args.load else []) + \
            ([("pair", "two at once", busy)] if args.pair else [])
    for step in steps:
        iterations = args.iterations or LOAD_ITERATIONS.get(step)
        alone, loaded = [], {m: [] for m, _, _ in modes}
        windows = []
        for seed in seeds:
            alone.append(run(step, seed, args.threads, iterations=iterations, env=env))
            print(f"{step} seed {seed} alone: {alone[-1]['training_s']:.1f} s training", flush=True)
            for mode, name, _ in modes:
                if mode == "busy":
                    with BusyLoop(args.load):
                        got = [run(step, seed, args.threads, iterations=iterations, env=env)]
                else:
                    got = run_pair(step, seed, args.threads, iterations=iterations, env=env)
                    windows += [r["overlap"] for r in got]
                loaded[mode].append(got)
                print(f"{step} seed {seed} {name}: " + " and ".join(f"{r['training_s']:.1f}" for r in got)
                      + " s training", flush=True)
        for mode, name, extra in modes:
            extras = ([f"--threads {args.threads}"] if args.threads else []) + \
                     ([f"oneDNN capped at {machine.ISAS[args.isa]}"] if args.isa else [])
            entry = {"step": step, "script": alone[0]["script"], "condition": ", ".join([name] + extras),
                     "iterations": alone[0]["trained_iterations"],
                     "seeds": seeds, "alone_s": [r["training_s"] for r in alone],
                     "loaded_s": [[r["training_s"] for r in rs] for rs in loaded[mode]],
                     "slowdown": stats.slowdown([r["training_s"] for r in alone],
                                                [[r["training_s"] for r in rs] for rs in loaded[mode]]),
                     "fair": stats.fair_share(cores, extra, busy), "overlap": windows if mode == "pair" else None,
                     "load_before": [r["load_before"] for r in alone]
                                    + [r["load_before"] for rs in loaded[mode] for r in rs],
                     "runnable": [r["runnable"] for rs in loaded[mode] for r in rs], "machine": record,
                     "isa": args.isa, "threads": args.threads}
            results["load"][key(step, entry["condition"], record)] = entry
            save(results, args.out)
            seen += alone + [r for rs in loaded[mode] for r in rs]
    print("\n" + machine.line(record, during(seen)))
    print(load_table(results["load"]))


def load_seeds(path):
    return json.load(open(path)) if os.path.exists(path) else {}


def spread_run(args, record, env):
    """--distribution / --final: one step's full runs, seed after seed, and the spread of its accuracy."""
    entries = load_seeds(args.seeds_out)
    seeds = list(range(args.seeds or seedruns.PLANS[args.mode][1]))
    try:
        entry = seedruns.seeds_run(args.mode, seeds, entries, lambda: save(entries, args.seeds_out), record,
                                   condition(args), key, env=env, runner=seed_runner)
    except ValueError as e:
        raise SystemExit(f"speed: {e}")
    print("\n" + machine.line(record, during(entry["runs"])))
    print(seedruns.report(entry))


def seed_runner(step, seed, env=None):
    """One full run for --distribution / --final (tests replace it)."""
    return seedruns.run_seed(step, seed, env=env)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    results = load_results(args.out)
    if args.mode == "table":
        print(table(results["rows"]))
        print()
        print(load_table(results["load"]))
        print()
        print(ratios_table(results["ratio_runs"]))
        print()
        print(seedruns.table(load_seeds(args.seeds_out)))
        return results
    env = machine.isa_env(args.isa)
    record = machine.describe(args.isa)
    print(machine.line(record), flush=True)
    results["machine"] = record
    if args.mode == "ratios":
        ratios_run(args, record, results, env, argv)
    elif args.mode == "load":
        load_run(args, record, results, env)
    elif args.mode in seedruns.PLANS:
        spread_run(args, record, env)
    else:
        steps = [(step, list(range(args.seeds or 1)), args.until) for step in args.steps]
        _, seen = timed_runs(args, steps, record, results, env)
        print("\n" + machine.line(record, during(seen)))
        print(table(results["rows"]))
    return results


if __name__ == "__main__":
    main()
