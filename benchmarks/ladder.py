"""Every step of the course at its full iteration count, in --text mode, as a learner runs it.

    python3 benchmarks/ladder.py                      # every step (about 45 minutes on 2 cores)
    python3 benchmarks/ladder.py --steps 1.0 3.1      # some of them
    python3 benchmarks/ladder.py --readme             # rewrite the README's table from the results, no run
    python3 benchmarks/ladder.py --steps 5.0 --readme # run one, then rewrite the table

For each step: the max test accuracy and the iteration where it came, the first iteration at 98% / 99%,
wall seconds, start-up seconds (TensorFlow's import, the graph, the data: wall minus training) and seconds
per 100 iterations of training with the test evaluations included (the figure the script prints itself).
Results go to benchmarks/results/ladder.json with the machine and the versions.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import course  # (the steps, what the course reports, and the parser of what a step prints)
import machine  # (the machine line, printed first and stored with every result)

RESULTS = os.path.join(HERE, "results", "ladder.json")


def script_for(step):
    """A step's script, or one line that names the steps there are."""
    order = course.steps()
    if step not in order:
        raise SystemExit(f"ladder: no step {step!r} (steps: {', '.join(order)})")
    return order[step]


def run_step(step, iterations=None, seed=0, env=None):
    script = script_for(step)
    cmd = [sys.executable, os.path.join(ROOT, script), "--text", "--seed", str(seed)]
    if iterations:
        cmd += ["--iterations", str(iterations)]
    env = {k: v for k, v in (env or os.environ).items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)      # this child's own rusage: its peak resident memory
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"ladder: {script} failed:\n{err.read()[-3000:]}")
        row = summarise(step, script, out.read(), wall, load)
    row["peak_memory_mb"] = round(usage.ru_maxrss / 1024)         # ru_maxrss is in KiB on Linux
    row["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    return row


def summarise(step, script, out, wall, load=None):
    run = course.parse_run(out)
    tests = [(i, a) for i, a, _ in run["test"]]
    if not tests or not run["trained"]:
        raise SystemExit(f"ladder: {script} printed no test line or no 'trained ...' line")
    best_i, best = max(tests, key=lambda t: (t[1], -t[0]))
    first = lambda level: next((i for i, a in tests if a >= level), None)  # noqa: E731
    _, training, per_100 = run["trained"]
    return {"step": step, "script": script, "iterations": tests[-1][0],     # the iteration the run ended at
            "max_accuracy": best, "max_at": best_i, "final_accuracy": tests[-1][1], "stated_final": run["final"],
            "first_98": first(0.98), "first_99": first(0.99), "wall_s": round(wall, 1),
            "training_s": training, "startup_s": round(wall - training, 1),
            "s_per_100": per_100, "load_before": load, "curve": tests}


def table(rows):
    """The steps as a markdown table; a machine column only when the rows were measured on different machines
    (otherwise the line under the table names the one machine)."""
    machines = [machine.short(r.get("machine") or r) for r in rows]
    several = len(set(machines)) > 1
    lines = ["| step | course reports | ours: max test accuracy (at iteration) | first at 99% | training s "
             "| s / 100 it (original) | peak memory | start-up s | load |" + (" machine |" if several else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if several else "")]
    reported = course.figures()
    for r, where in zip(rows, machines):
        known = reported.get(r["step"], {})
        reports, original = known.get("reports") or "-", known.get("original_s_per_100")
        lines.append(f"| {r['script']} | {reports} | {r['max_accuracy']:.2%} ({r['max_at']:,}) | "
                     f"{'-' if r['first_99'] is None else format(r['first_99'], ',')} | {r['training_s']:.0f} | "
                     f"{r['s_per_100']:.2f} ({'-' if original is None else format(original, '.2f')}) | "
                     f"{memory(r)} | {r['startup_s']:.1f} | {r['load_before']:.1f} |"
                     + (f" {where} |" if several else ""))
    return "\n".join(lines)


def memory(row):
    mb = row.get("peak_memory_mb")
    return "-" if mb is None else f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb} MB"


def write_readme(rows, meta):
    path = os.path.join(ROOT, "README.md")
    text = open(path).read()
    start, end = "<!-- ladder:start -->", "<!-- ladder:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"ladder: README.md has no {start} ... {end} markers")
    machines = {machine.short(r.get("machine") or r) for r in rows}
    where = machines.pop() if len(machines) == 1 else "the machines in the last column"
    days = sorted({(r.get("machine") or meta)["date"][:10] for r in rows})
    body = (f"{start}\n{table(rows)}\n\nMeasured by `python3 benchmarks/ladder.py` on {where}, "
            f"TensorFlow {meta['tensorflow']}, seed 0, {' to '.join(dict.fromkeys([days[0], days[-1]]))}. "
            "\"load\" is the "
            "machine's load average when the step started: above 2, other work shared the two cores and the "
            f"seconds are inflated (the accuracies are not: the same seed gives the same figures).\n{end}")
    head, rest = text.split(start, 1)
    open(path, "w").write(head + body + rest.split(end, 1)[1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    order = list(course.steps())
    p.add_argument("--steps", nargs="+", choices=order, metavar="STEP",
                   help="steps to run (default: all, or none with --readme alone): " + " ".join(order))
    p.add_argument("--iterations", type=int, help="override every step's iteration count (a quick check)")
    p.add_argument("--readme", action="store_true",
                   help="rewrite the README's table from the results file (after the --steps given, if any)")
    p.add_argument("--out", default=RESULTS, help="results file (default: benchmarks/results/ladder.json)")
    args = p.parse_args(argv)
    previous = json.load(open(args.out)) if os.path.exists(args.out) else {"steps": {}}
    meta = machine.describe()
    print(machine.line(meta), flush=True)
    for step in args.steps or ([] if args.readme else order):
        row = run_step(step, args.iterations)
        print(f"{step}: max {row['max_accuracy']:.2%} at {row['max_at']:,}, {row['training_s']:.1f} s training, "
              f"{row['s_per_100']:.2f} s/100 it, start-up {row['startup_s']:.1f} s, peak memory {memory(row)} "
              f"(load {row['load_before']:.1f})",
              flush=True)
        if not args.iterations:                       # only full runs go to the results file
            previous["steps"][step] = dict(row, machine=meta)
            previous["machine"] = meta
            os.makedirs(os.path.dirname(args.out), exist_ok=True)
            tmp = args.out + ".part"
            with open(tmp, "w") as f:
                json.dump(previous, f, indent=1)
            os.replace(tmp, args.out)
    rows = [previous["steps"][s] for s in sorted(previous["steps"])]
    if rows:
        print(table(rows))
    if args.readme:
        write_readme(rows, previous["machine"])


if __name__ == "__main__":
    main()
