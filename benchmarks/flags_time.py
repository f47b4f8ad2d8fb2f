"""How long a learner waits for --help, a mistyped flag, a bad value or a bad output path, on every entry point.

    python3 benchmarks/flags_time.py               # every step script and mlengine's entry points, 5 runs each
    python3 benchmarks/flags_time.py --runs 10

Each answer is a whole process, as from the terminal (Python's start-up included): the median and the
slowest of the runs, per entry point and case. The flags are read before TensorFlow is imported, so none of
these should take a second. Prints a markdown table and the machine line; writes nothing.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import course
import machine

CASES = {"--help": ["--help"], "unknown flag": ["--bogus"], "bad value": ["--seed", "-1"],
         "bad output path": ["--save-png", "/nowhere/x.png"]}
MLENGINE = {  # module: (bad value, bad output path) in its own flags
    "trainer.task": (["--seed", "-1"], ["--job-dir", "/proc/nowhere/job"]),
    "serving.serve": (["--port", "99999"], ["--model-dir", "/nowhere"]),
    "serving.predict": (["--model-dir", "/nowhere"], ["--json-instances", "/nowhere.json"]),
    "search.hptune": (["--parallel", "0"], ["--config", "/nowhere.yaml"]),
}


def seconds(cmd, cwd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if r.returncode not in (0, 1, 2):
            raise SystemExit(f"flags_time: {' '.join(cmd)} ended with {r.returncode}:\n{r.stderr[-1000:]}")
    return statistics.median(times), max(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error(f"--runs must be at least 1, got {args.runs}")
    print(machine.line(machine.describe()), flush=True)
    rows = []
    for step, script in course.steps().items():
        for case, extra in CASES.items():
            rows.append((script, case, *seconds([sys.executable, os.path.join(ROOT, script), *extra], ROOT, args.runs)))
    for module, (bad_value, bad_path) in MLENGINE.items():
        for case, extra in (("--help", ["--help"]), ("unknown flag", ["--bogus"]), ("bad value", bad_value),
                            ("bad output path", bad_path)):
            rows.append((f"python -m {module}", case,
                         *seconds([sys.executable, "-m", module, *extra], os.path.join(ROOT, "mlengine"), args.runs)))
    print(f"\n| entry point | {' | '.join(CASES)} |\n|---|" + "---|" * len(CASES))
    for name in dict.fromkeys(r[0] for r in rows):
        cells = [f"{med:.2f} s (max {top:.2f})" for n, _, med, top in rows if n == name]
        print(f"| {name} | {' | '.join(cells)} |")
    worst = max(r[3] for r in rows)
    print(f"\nslowest answer of all: {worst:.2f} s; load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
