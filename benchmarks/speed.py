"""Time to 98%, 99% and 99.5% test accuracy for every step, the two past the course and the Keras peer.

    python3 benchmarks/speed.py --seeds 5                          # everything (hours: 4.2 and 5.1 are long)
    python3 benchmarks/speed.py --steps 5.0 keras --seeds 5        # the fast step and the peer
    python3 benchmarks/speed.py --steps 3.1 4.2 --until 0.99       # stop each run at its first test >= 99%
    python3 benchmarks/speed.py --steps 5.0 --seeds 5 --load 1     # the same with a busy loop on one core
    python3 benchmarks/speed.py --table                            # the markdown table from the JSON

Each (step, seed) runs in its own process, in --text mode, as a learner runs it. The time to a level is
measured as the script sees it: from its first training step to the end of its first test evaluation at or
above that level, every evaluation before it included; TensorFlow's import, the graph and the data are
start-up, reported apart. It is read from when each printed line arrives (unbuffered), anchored by the
script's own "trained N iterations in X s" line, so the scripts need no timing code of their own.
A level a seed never reached counts as later than any time: the median reads "not reached" when half the
seeds or more missed it. Results: benchmarks/results/speed.json (rewritten after every run), with the
machine, the versions and the load average before each run.
"""
import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ladder  # noqa: E402  (ladder.summarise, ladder.machine)
import course  # noqa: E402  (the steps, and the patterns of the lines they print)

RESULTS = os.path.join(HERE, "results", "speed.json")
LEVELS = (0.98, 0.99, 0.995)
PEER = "keras"
FAST, BEST_COURSE = "5.0", "4.2"
STEPS = list(course.steps()) + [PEER]


# -- statistics: plain functions of timings, tested from synthetic ones -----------------------------------
def time_to_levels(tests, arrivals, trained_at, training_s, levels=LEVELS):
    """tests [(iteration, accuracy)] in printed order, arrivals [seconds] when each test line arrived,
    trained_at when the 'trained ...' line arrived, training_s the seconds it reports: {level: seconds from
    the first training step to the first test at or above the level, or None}."""
    start = trained_at - training_s
    out = {}
    for level in levels:
        out[level] = next((round(t - start, 2) for (_, a), t in zip(tests, arrivals) if a >= level), None)
    return out


def spread(values):
    """Median, min and max over seeds of values where None means 'not reached' (later than any time)."""
    reached = sorted(v for v in values if v is not None)
    ranked = reached + [math.inf] * (len(values) - len(reached))
    n = len(ranked)
    median = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2 if n else math.inf
    return {"median": None if math.isinf(median) else round(median, 6),
            "min": reached[0] if reached else None, "max": reached[-1] if reached else None,
            "reached": len(reached), "runs": n}


def aggregate(runs):
    """One step's runs (summaries with 'times') -> the row of the table."""
    row = {"step": runs[0]["step"], "script": runs[0]["script"], "seeds": [r["seed"] for r in runs],
           "time_to": {f"{level:g}": spread([r["times"][f"{level:g}"] for r in runs]) for level in LEVELS},
           "max_accuracy": spread([r["max_accuracy"] for r in runs]),
           "s_per_100": spread([r["s_per_100"] for r in runs]),
           "startup_s": spread([r["startup_s"] for r in runs]),
           "load_before": [r["load_before"] for r in runs], "steal": [r.get("steal") for r in runs]}
    return row


def ratios(rows):
    """How many times sooner the fast step reaches 99% than the peer and the course's best step (medians)."""
    t = lambda step: (rows.get(step) or {}).get("time_to", {}).get("0.99", {}).get("median")
    fast = t(FAST)
    return {f"{other}_over_{FAST}": round(t(other) / fast, 1) if fast and t(other) else None
            for other in (PEER, BEST_COURSE)}


def comparable(rows):
    """{step: row} of the runs made as found (no busy loop, default threads); a run stopped at a level (--until)
    still counts for its times, a full run is preferred."""
    out = {}
    for key in sorted(rows, key=lambda k: "until" in k, reverse=True):       # full runs last: they win
        if rows[key].get("condition", "").split(", until")[0] == "no added load":
            out[key.split(" [")[0]] = rows[key]
    return out


# -- running -----------------------------------------------------------------------------------------------
def cpu_ticks():
    """(stolen, all) CPU ticks of the machine so far, from /proc/stat's first line; (0, 0) where there is none.
    'Stolen' is time the hypervisor gave this VM's cores to another guest: on this shared 2-core VM the same
    run has varied 1.5x from hour to hour, and the share stolen during a run is one reason that can be seen."""
    try:
        ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def steal_share(before, after):
    stolen, total = after[0] - before[0], after[1] - before[1]
    return round(stolen / total, 3) if total > 0 else None


def command(step, seed, threads=None):
    if step == PEER:
        cmd = [sys.executable, os.path.join(HERE, "keras_convnet.py")]
    else:
        cmd = [sys.executable, os.path.join(ladder.ROOT, ladder.script_for(step)), "--text"]
    cmd += ["--seed", str(seed)] + (["--threads", str(threads)] if threads else [])
    return cmd


def run(step, seed, threads=None, until=None):
    """One process; returns ladder.summarise's figures plus 'times' {level: s} and the seed."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    load = os.getloadavg()[0]
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = cpu_ticks()
    start = time.perf_counter()
    # SIGINT back to its default in the child: a benchmark started in the background (nohup, `&`) inherits
    # it ignored, and --until's Ctrl-C would then be lost
    proc = subprocess.Popen(command(step, seed, threads), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, bufsize=1,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines, tests, arrivals, trained_at = [], [], [], None
    for line in proc.stdout:
        now = time.perf_counter()
        lines.append(line)
        m = course.TEST_LINE.match(line.rstrip("\n"))
        if m:
            tests.append((int(m.group(1)), float(m.group(3))))
            arrivals.append(now)
            if until and float(m.group(3)) >= until and proc.poll() is None:
                proc.send_signal(signal.SIGINT)         # the scripts end cleanly on Ctrl-C, with their lines
        elif course.TRAINED_LINE.match(line):
            trained_at = now
    err = proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - start
    steal = steal_share(ticks, cpu_ticks())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 1)   # the whole process's
    out = "".join(lines)
    name = "keras_convnet.py" if step == PEER else ladder.script_for(step)
    if proc.returncode or trained_at is None:
        raise SystemExit(f"speed: {name} (seed {seed}) failed:\n{err[-3000:]}")
    row = ladder.summarise(step, name, out, wall, load)
    levels = time_to_levels(tests, arrivals, trained_at, row["training_s"])
    row.update(seed=seed, threads=threads, cpu_s=cpu_s, steal=steal, stopped_at_level=until, times={f"{k:g}": v for k, v in levels.items()})
    return row


class BusyLoop:
    """--load N: N processes spinning on the CPU, as another engineer's job would."""

    def __init__(self, n):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]

    def __enter__(self):
        time.sleep(1 if self.procs else 0)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


# -- the table ---------------------------------------------------------------------------------------------
def fmt_time(s):
    if s["median"] is None:
        return f"not reached ({s['reached']}/{s['runs']})"
    extra = "" if s["reached"] == s["runs"] else f", {s['reached']}/{s['runs']} seeds"
    return f"{s['median']:.1f} s ({s['min']:.1f}-{s['max']:.1f}{extra})"


def stolen(row):
    shares = [x for x in row.get("steal") or [] if x is not None]
    return f"{min(shares):.1%}-{max(shares):.1%}" if shares else "-"


def table(results):
    lines = ["| step | condition | seeds | time to 98% | time to 99% | time to 99.5% | max accuracy, median (min-max) "
             "| s / 100 it | start-up s | load before | CPU stolen by the host |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(results["rows"]):
        r = results["rows"][key]
        acc = r["max_accuracy"]
        lines.append(f"| {r['script']} | {r.get('condition', 'no added load')} | {len(r['seeds'])} | "
                     + " | ".join(fmt_time(r["time_to"][f"{lv:g}"]) for lv in LEVELS)
                     + f" | {acc['median']:.2%} ({acc['min']:.2%}-{acc['max']:.2%}) | {r['s_per_100']['median']:.2f} | "
                       f"{r['startup_s']['median']:.1f} | {'/'.join(f'{x:.1f}' for x in r['load_before'])} | {stolen(r)} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", nargs="+", default=STEPS, metavar="STEP",
                   help="steps to run (default: all): " + " ".join(STEPS))
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 0..N-1 per step (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="pass --threads N to every run (default: theirs)")
    p.add_argument("--load", type=int, default=0, metavar="N",
                   help="run with N busy-loop processes alongside (a loaded machine); default 0")
    p.add_argument("--until", type=float, metavar="ACC",
                   help="stop each run at its first test at or above ACC (0.9-1), e.g. 0.99 for the long steps")
    p.add_argument("--out", default=RESULTS, help="results file (default benchmarks/results/speed.json)")
    p.add_argument("--table", action="store_true", help="print the table from the results file and exit")
    args = p.parse_args(argv)
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        p.error(f"unknown step {', '.join(unknown)} (steps: {' '.join(STEPS)})")
    if args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    if not 0 <= args.load <= 8:
        p.error(f"--load must be between 0 and 8 busy processes, got {args.load}")
    if args.until is not None and not 0.9 <= args.until <= 1:
        p.error(f"--until is a test accuracy between 0.9 and 1, got {args.until}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))) and not args.table:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    return args


def main(argv=None):
    args = parse_args(argv)
    results = json.load(open(args.out)) if os.path.exists(args.out) else {"rows": {}, "runs": {}}
    if args.table:
        print(table(results))
        print("ratios (median time to 99%):", json.dumps(ratios(comparable(results["rows"]))))
        return results
    import keras
    results["machine"] = dict(ladder.machine(), keras=keras.__version__, date=time.strftime("%Y-%m-%d %H:%M"))
    condition = ", ".join(x for x in ((f"{args.load} busy loop" + "s" * (args.load > 1)) if args.load else "no added load",
                                      f"--threads {args.threads}" if args.threads else "",
                                      f"until {args.until:g}" if args.until else "") if x)
    for step in args.steps:
        key = f"{step} [{condition}]"
        runs = []
        with BusyLoop(args.load):
            for seed in range(args.seeds):
                r = run(step, seed, args.threads, args.until)
                t = r["times"]
                print(f"{step} seed {seed} ({condition}): max {r['max_accuracy']:.2%}, to 98/99/99.5%: "
                      f"{t['0.98']} / {t['0.99']} / {t['0.995']} s, {r['s_per_100']:.2f} s/100 it, start-up "
                      f"{r['startup_s']:.1f} s, CPU {r['cpu_s']:.0f} s, load before {r['load_before']:.2f}, "
                      f"stolen by the host {r['steal'] if r['steal'] is None else format(r['steal'], '.1%')}", flush=True)
                runs.append({k: v for k, v in r.items() if k != "curve"} | {"curve": r["curve"]})
                results["runs"][key] = runs
                results["rows"][key] = dict(aggregate(runs), condition=condition)
                results["ratios"] = ratios(comparable(results["rows"]))
                tmp = args.out + ".part"
                with open(tmp, "w") as f:
                    json.dump(results, f, indent=1)
                os.replace(tmp, args.out)
    print(table(results))
    print("ratios (median time to 99%):", json.dumps(results.get("ratios")))
    return results


if __name__ == "__main__":
    main()
