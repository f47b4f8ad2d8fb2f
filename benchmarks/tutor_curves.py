"""The steps' reference runs for `course.py check`: each exercise step as a learner's completed exercise is
trained there (--text, seeds 0-2), with every figure it prints; and how long the check takes.

    python3 benchmarks/tutor_curves.py                    # every exercise step, seeds 0-2 (about 8 minutes on 2 cores)
    python3 benchmarks/tutor_curves.py --steps 2.1 4.2    # some of them
    python3 benchmarks/tutor_curves.py --checks 3         # and time 3 whole `course.py check` commands per step
    python3 benchmarks/tutor_curves.py --seeds 0 --checks 3   # only time the checks, keeping the recorded runs

The check compares a learner's short run with these over the same iterations ("on track: 97.0% at 1,000
iterations, the step had 97.0%") and measures how noisy the step's test curve is late in the run. The ladder
(ladder.py) keeps each step's test accuracy at its full length; this keeps the training and test lines, with
their losses, at the check's length. --checks N times the check itself as a learner waits for it, in a
temporary folder: the exercise written, completed with the step's own script under its header line, checked
from start to exit (TensorFlow's import, both graphs read, the training, the diagnosis). Results go to
benchmarks/results/tutor_curves.json with the machine line and the load average before each run.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import course  # noqa: E402  (the steps and the parser of what a step prints)
import machine  # noqa: E402  (the machine line, printed first and stored with the results)
from tutor import exercise  # noqa: E402  (a file completed with the step's script)
from tutor.tasks import EXERCISES  # noqa: E402  (each step's check length)

RESULTS = os.path.join(HERE, "results", "tutor_curves.json")


def run_seeds(step, iterations, seeds):
    """Each seed's run: {"step", "iterations", "runs": {seed: {"train", "test", "training_s", "load_before"}}}."""
    runs = {str(seed): run_step(step, iterations, seed) for seed in range(seeds)}
    return {"step": step, "script": course.steps()[step], "iterations": iterations, "runs": runs}


def run_step(step, iterations, seed=0):
    script = course.steps()[step]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), "--text", "--iterations", str(iterations),
                           "--seed", str(seed)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"tutor_curves: {script} failed:\n{proc.stderr[-3000:]}")
    run = course.parse_run(proc.stdout)
    if not run["test"] or not run["trained"]:
        raise SystemExit(f"tutor_curves: {script} printed no test line or no 'trained ...' line")
    return {"train": run["train"], "test": run["test"], "training_s": run["trained"][1], "wall_s": round(wall, 1),
            "load_before": round(load, 2)}


def time_checks(step, runs):
    """Seconds of `course.py check my_STEP.py`, whole commands, on a faithful completion; and the loads."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    course_py = os.path.join(ROOT, "course.py")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, course_py, step, "--exercise"], cwd=folder, check=True, capture_output=True)
        path = os.path.join(folder, f"my_{step}.py")
        text = exercise.under_header(open(path).read(), open(os.path.join(ROOT, course.steps()[step])).read())
        open(path, "w").write(text)
        seconds, loads = [], []
        for _ in range(runs):
            loads.append(round(os.getloadavg()[0], 2))
            start = time.perf_counter()
            r = subprocess.run([sys.executable, course_py, "check", os.path.basename(path)], cwd=folder,
                               capture_output=True, text=True, env=env)
            seconds.append(round(time.perf_counter() - start, 1))
            if r.returncode:
                raise SystemExit(f"tutor_curves: the check of step {step} failed:\n"
                                 f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return seconds, loads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", nargs="+", default=list(EXERCISES), choices=list(EXERCISES), metavar="STEP",
                   help="steps to run (default: every exercise): " + " ".join(EXERCISES))
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3; 0: keep the recorded runs)")
    p.add_argument("--checks", type=int, default=0, metavar="N", help="also time N whole checks per step (default 0)")
    p.add_argument("--out", default=RESULTS, help="results file (default: benchmarks/results/tutor_curves.json)")
    args = p.parse_args(argv)
    if args.seeds < 0 or args.checks < 0 or not (args.seeds or args.checks):
        p.error("--seeds and --checks must be 0 or more, and one of them more")
    previous = json.load(open(args.out)) if os.path.exists(args.out) else {"steps": {}}
    meta = machine.describe()
    print(machine.line(meta), flush=True)
    for step in args.steps:
        row = previous["steps"].get(step)
        if args.seeds or not row:
            row = run_seeds(step, EXERCISES[step]["recorded"], max(args.seeds, 1))
            runs = list(row["runs"].values())
            best = [max(a for _, a, _ in r["test"]) for r in runs]
            print(f"{step}: {row['iterations']:,} iterations, max test accuracy {best[0]:.2%} (seeds 0-"
                  f"{len(best) - 1}: {min(best):.2%}-{max(best):.2%}), training {runs[0]['training_s']:.1f} s, "
                  f"{runs[0]['wall_s']:.1f} s in all, seed 0 (load {runs[0]['load_before']:.1f})", flush=True)
            row = dict(row, machine=meta)
        if args.checks:
            row["check_s"], row["check_loads"] = time_checks(step, args.checks)
            row["check_machine"] = meta
            print(f"{step}: course.py check: median {statistics.median(row['check_s']):.1f} s (min "
                  f"{min(row['check_s']):.1f}, max {max(row['check_s']):.1f}, {args.checks} runs; load "
                  f"{min(row['check_loads']):.1f}-{max(row['check_loads']):.1f})", flush=True)
        previous["steps"][step] = row
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        tmp = args.out + ".part"
        with open(tmp, "w") as f:
            json.dump(previous, f, indent=None, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
