"""What the panels cost the training: one step run in --text, in a real window, with --save-png and with
--save-movie, the same iterations, rounds interleaved so that the machine's drift hits every mode alike.

    python3 benchmarks/visu_overhead.py                          # 3.1, 2,000 iterations, 3 rounds
    python3 benchmarks/visu_overhead.py --step 4.2 --iterations 500 --rounds 1

The window needs a display: without $DISPLAY the script starts its own Xvfb (Debian's xvfb) and closes
each window with xdotool once its training has finished. Figures: the training seconds the script prints
("trained N iterations in X s") for every mode, and wall seconds for PNG and movie (their file is written
after the loop); medians over the rounds, and the ratio to --text. Results in benchmarks/results/.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ladder  # (script names)
import course  # (the steps and the patterns of their lines)
import machine  # (the machine line, printed first and stored with the result)

MODES = ("text", "window", "png", "movie")


def start_xvfb():
    if os.environ.get("DISPLAY"):
        return None, os.environ["DISPLAY"]
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        raise SystemExit("visu_overhead: no $DISPLAY and no Xvfb/xdotool to make one (apt install xvfb xdotool)")
    display = ":77"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return server, display


def run(step, mode, iterations, display, folder):
    script = ladder.script_for(step)
    cmd = [sys.executable, os.path.join(ladder.ROOT, script), "--iterations", str(iterations)]
    env = dict(os.environ, DISPLAY=display)
    env.pop("MPLBACKEND", None)
    cmd += {"text": ["--text"], "window": [], "png": ["--text", "--save-png", os.path.join(folder, "p.png")],
            "movie": ["--text", "--save-movie", os.path.join(folder, "m.mp4")]}[mode]
    log = os.path.join(folder, f"{mode}.txt")
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            time.sleep(0.2)
            if mode == "window" and "close the window" in open(log).read():
                wall = time.perf_counter() - start
                subprocess.run(["xdotool", "search", "--name", script[:-3], "key", "q"], env=env,
                               capture_output=True)
                proc.wait(30)
                break
        else:
            wall = time.perf_counter() - start
    text = open(log).read()
    trained = course.TRAINED_LINE.search(text)
    if proc.returncode or not trained:
        raise SystemExit(f"visu_overhead: {mode} run failed:\n{text[-2000:]}")
    if mode == "window" and "display: window" not in text:
        raise SystemExit("visu_overhead: the window did not open:\n" + text[-1000:])
    return float(trained.group(2)), wall


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--step", default="3.1", choices=list(course.steps()))
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--out", default=os.path.join(ladder.HERE, "results", "visu_overhead.json"),
                   help="results file (default benchmarks/results/visu_overhead.json)")
    args = p.parse_args(argv)
    record = machine.describe()
    print(machine.line(record), flush=True)
    previous = json.load(open(args.out)) if os.path.exists(args.out) else None
    server, display = start_xvfb() if "window" in args.modes else (None, "")
    results = {m: {"training_s": [], "wall_s": []} for m in args.modes}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for r in range(args.rounds):
                for mode in args.modes:
                    training, wall = run(args.step, mode, args.iterations, display, folder)
                    results[mode]["training_s"].append(training)
                    results[mode]["wall_s"].append(round(wall, 2))
                    print(f"round {r + 1} {mode}: training {training:.1f} s, wall {wall:.1f} s "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        if server:
            server.terminate()
    base = {k: statistics.median(results["text"][k]) for k in ("training_s", "wall_s")} if "text" in results else None
    summary = {}
    for mode, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        summary[mode] = dict(r, median_training_s=med["training_s"], median_wall_s=med["wall_s"],
                             training_ratio=round(med["training_s"] / base["training_s"], 3) if base else None,
                             wall_ratio=round(med["wall_s"] / base["wall_s"], 3) if base else None)
        print(f"{mode:7s} median training {med['training_s']:.1f} s (x{summary[mode]['training_ratio']}), "
              f"wall {med['wall_s']:.1f} s (x{summary[mode]['wall_ratio']})")
    print(against_previous(summary, record, previous, args))
    out = args.out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".part", "w") as f:
        json.dump({"step": args.step, "iterations": args.iterations, "rounds": args.rounds,
                   "machine": record, "modes": summary}, f, indent=1)
    os.replace(out + ".part", out)


def against_previous(summary, record, previous, args):
    """One line: this run's ratios to --text against the previous results file's, when it is the same
    step, length and machine; otherwise what differs (a ratio from another machine is not compared)."""
    if not previous:
        return "previous: no results file before this run"
    if (previous.get("step"), previous.get("iterations")) != (args.step, args.iterations):
        return f"previous: step {previous.get('step')}, {previous.get('iterations')} iterations: not compared"
    if not machine.same(previous.get("machine") or {}, record):
        return f"previous: another machine ({machine.short(previous.get('machine') or {})}): not compared"
    pairs = [(m, previous["modes"][m]["training_ratio"], s["training_ratio"]) for m, s in summary.items()
             if m != "text" and m in previous.get("modes", {}) and s["training_ratio"]]
    return "previous, same machine: " + (", ".join(f"{m} x{a} -> x{b}" for m, a, b in pairs) or "no mode in common")


if __name__ == "__main__":
    main()
