"""What a window's frames cost the training, measured inside one run: the display draws only in every other
few seconds (TFVISU_DRAW_BLOCKS, visualiser/pacing.py) and the training's speed in the seconds with frames
is set against its speed in the seconds around them without, read from the console's lines as they arrive.
Both sides come from the same process a few seconds apart: the machine's drift from run to run, which moves
a 2-second run of 1.0 by a third on a shared host, is out of the comparison. The budget is held while the
frames are off, so a block with frames spends what any few seconds of an ordinary run spend.

    python3 benchmarks/draw_cost.py --step 1.0 --modes inside window      # 1.0 for 20,000 iterations
    python3 benchmarks/draw_cost.py --step 3.1 --step 4.2 --modes inside --blocks 4   # frames come rarer

Per run: the cost (the training's seconds per iteration with frames over those without, minus 1) of each
block with frames against the mean of its two neighbours without (the first pair left out: the window's
first frames), their median and range, and the pooled cost over all of them; the frames' CPU as a share of
a core and the frames of new data a second in the blocks with frames. This is the draws' cost in a steady
run; visu_overhead.py gives the whole ratio of short runs, start included.
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import visu_overhead  # (a step's run in a real window, its lines and frames; first: it finds course.py)
import course  # (the steps)
import ladder  # (the results folder)
import machine  # (the machine line)

ITERATIONS = {"1.0": 20000, "2.2": 3000, "3.1": 600, "4.2": 400}   # 15-200 s each on 2 cores


def progress(lines):
    """The console's figures lines [(arrival time, line)] -> [(time, iteration)], in order."""
    return [(t, int(m.group(1))) for t, line in lines for m in [visu_overhead.FIGURE.match(line)] if m]


def iteration_at(points, t):
    """The iteration reached at time t, linear between the printed lines (None outside them)."""
    for (t0, i0), (t1, i1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return i0 + (i1 - i0) * (t - t0) / (t1 - t0) if t1 > t0 else i1
    return None


def blocks(frames):
    """The frame log's switches -> [(start, end, on)], the complete blocks only."""
    switches = sorted((f["t"], f["block"] == "on") for f in frames if "block" in f)
    return [(a, b, on) for (a, on), (b, _) in zip(switches, switches[1:])]


def costs(points, spans, frames):
    """Each block with frames (but the first) against the mean speed of its neighbours without."""
    speed = []                                     # (start, end, on, seconds per iteration)
    for a, b, on in spans:
        i0, i1 = iteration_at(points, a), iteration_at(points, b)
        if i0 is not None and i1 is not None and i1 > i0:
            speed.append((a, b, on, (b - a) / (i1 - i0)))
    pairs = []
    for k, (a, b, on, s) in enumerate(speed):
        if on and 0 < k < len(speed) - 1 and not speed[k - 1][2] and not speed[k + 1][2]:
            pairs.append((a, b, s, (speed[k - 1][3] + speed[k + 1][3]) / 2))
    pairs = pairs[1:] if len(pairs) > 1 else pairs         # the window's first frames left out
    if not pairs:
        return {}
    each = [s / off - 1 for _, _, s, off in pairs]
    on_s = sum(b - a for a, b, _, _ in pairs)
    # pooled: the blocks' seconds against what their iterations took without frames
    pooled = on_s / sum(off * (b - a) / s for a, b, s, off in pairs) - 1
    inside = [f for f in frames if "updates" in f and any(a <= f["t"] <= b for a, b, _, _ in pairs)]
    return {"blocks": len(pairs), "cost_median": round(statistics.median(each), 4),
            "cost_min": round(min(each), 4), "cost_max": round(max(each), 4), "cost_pooled": round(pooled, 4),
            "frames_cpu_share": round(sum(f.get("cpu") or 0 for f in inside) / on_s, 4),
            "new_data_per_s": round(len({f["updates"] for f in inside}) / on_s, 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--step", action="append", choices=list(course.steps()), help="a step (repeat for several; "
                   "default 1.0)")
    p.add_argument("--modes", nargs="+", default=["inside"], choices=["window", "inside"],
                   help="the six panels (window) or the look-inside view (inside); default inside")
    p.add_argument("--iterations", type=int, help="iterations of every step (default: 1.0 20,000, 2.2 3,000, "
                                                  "3.1 600, 4.2 400, else the step's own)")
    p.add_argument("--blocks", type=float, default=1.0, help="seconds with frames, then as many without (default 1)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", help="results file (default benchmarks/results/draw_cost.json)")
    args = p.parse_args(argv)
    if args.blocks <= 0:
        p.error(f"--blocks must be more than 0 seconds, not {args.blocks:g}")
    if args.rounds < 1 or (args.iterations is not None and args.iterations < 1):
        p.error("--rounds and --iterations must be at least 1")
    out = args.out or os.path.join(ladder.HERE, "results", "draw_cost.json")
    record = machine.describe()
    print(machine.line(record), flush=True)
    os.environ["TFVISU_DRAW_BLOCKS"] = f"{args.blocks:g}"
    results = {}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        display = visu_overhead.own_display(stack)
        for step in args.step or ["1.0"]:
            for r in range(args.rounds):
                for mode in args.modes:
                    run = visu_overhead.Run(step, mode, args.iterations or ITERATIONS.get(step), display,
                                            folder).finish()
                    c = costs(progress(run.lines), blocks(run.frames), run.frames)
                    results.setdefault(f"{step} {mode}", []).append(c | {"training_s": run.training_s})
                    print(f"{step} {mode} round {r + 1}: " + (
                        f"frames cost the training {c['cost_median']:+.1%} (median of {c['blocks']} blocks of "
                        f"{args.blocks:g} s, {c['cost_min']:+.1%} to {c['cost_max']:+.1%}; pooled "
                        f"{c['cost_pooled']:+.1%}), frames {c['frames_cpu_share']:.1%} of a core, "
                        f"{c['new_data_per_s']} frames of new data/s" if c else
                        "too short for a block with frames between two without (more --iterations)"), flush=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".part", "w") as f:
        json.dump({"runs": results, "blocks_s": args.blocks, "machine": record}, f, indent=1)
    os.replace(out + ".part", out)


if __name__ == "__main__":
    main()
