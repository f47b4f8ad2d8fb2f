"""What watching costs: training wall time of a recipe with --display none vs the live window (under Xvfb
when there is no screen), PNG snapshots and video recording, as ratios to `none`.

    OMP_NUM_THREADS=1 python benchmarks/dashboard_overhead.py                      # 3.1, 10,000 steps, 1 round
    OMP_NUM_THREADS=1 python benchmarks/dashboard_overhead.py --iterations 1500 --rounds 2

Each mode is a fresh `python -m mnistlab train` process; the time is the training wall time the run
records (summary.json: the loop's own clock, start-up and the final PNG/video encode excluded). Rounds go
through the modes in turn so that a drift of the machine's load hits all of them alike. The load average
is printed before and after: on a shared machine the ratios are only indicative.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "none": ["--display", "none"],
    "window": ["--display", "window", "--close-at-end"],
    "png": ["--display", "none", "--save-png", "{tmp}/dash-{{step}}.png", "--save-every", "500"],
    # A frame every 100 steps: the default cadence of a 10,000-step run (FRAMES_PER_RUN), kept for shorter
    # benchmark runs so that the cost per step is the one of a real run.
    "video": ["--display", "none", "--save-video", "{tmp}/train.mp4", "--save-every", "100"],
}


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def start_xvfb(tmp: Path):
    """A virtual screen on a free display number for the window mode; (process, DISPLAY) or (None, None)."""
    if os.environ.get("DISPLAY"):
        return None, os.environ["DISPLAY"]
    if shutil.which("Xvfb") is None:
        return None, None
    for n in range(150, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            if proc.poll() is None:
                return proc, f":{n}"
    return None, None


def run_mode(mode: str, args, tmp: Path, display: str | None) -> dict:
    run_dir = tmp / f"{mode}-{time.time_ns()}"
    flags = [a.format(tmp=tmp) for a in MODES[mode]]
    cmd = [sys.executable, "-m", "mnistlab", "train", args.recipe, "--iterations", str(args.iterations),
           "--run-dir", str(run_dir), *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if mode == "window":
        env["DISPLAY"] = display
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    total = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{mode}: exit {p.returncode}\n{p.stderr[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"train_seconds": summary["wall_seconds"], "process_seconds": round(total, 2),
            "max_test_accuracy": summary["max_test_accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="3.1")
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--modes", default="none,window,png,video")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dashboard_overhead.json"))
    args = ap.parse_args()
    modes = args.modes.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="mnistlab-overhead-"))
    xvfb, display = start_xvfb(tmp) if "window" in modes else (None, None)
    if "window" in modes and display is None:
        print("no display and no Xvfb: skipping the window mode", file=sys.stderr)
        modes.remove("window")
    results: dict = {m: [] for m in modes}
    load_before = load()
    print(f"load average before: {load_before}  (cpus: {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})", flush=True)
    try:
        for r in range(args.rounds):
            for m in modes:
                res = run_mode(m, args, tmp, display)
                results[m].append(res)
                print(f"round {r + 1} {m:>6}: training {res['train_seconds']:8.2f} s  (process {res['process_seconds']:.1f} s, "
                      f"max test accuracy {res['max_test_accuracy']:.4f}, load {load()})", flush=True)
    finally:
        if xvfb is not None:
            xvfb.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(x["train_seconds"] for x in results["none"]) if "none" in results else None
    table = {}
    for m, runs in results.items():
        med = statistics.median(x["train_seconds"] for x in runs)
        table[m] = {"median_train_seconds": med, "ratio_to_none": round(med / base, 3) if base else None,
                    "runs": runs}
        print(f"{m:>6}: median {med:8.2f} s" + (f"   x{med / base:.3f} of none" if base else ""))
    out = {"recipe": args.recipe, "iterations": args.iterations, "rounds": args.rounds,
           "load_before": load_before, "load_after": load(), "machine": platform.platform(),
           "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "command": " ".join([Path(sys.executable).name, *sys.argv]), "modes": table}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"load average after: {out['load_after']}; results: {args.out}")


if __name__ == "__main__":
    main()
