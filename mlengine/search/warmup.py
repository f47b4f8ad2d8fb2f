"""The evidence behind the search's pruning warm-up: unpruned trials' test-loss curves, and how well a test
at step s ranks the trials as their final test does.

    cd mlengine && nice python -m search.warmup --trials 12 --iterations 300 --every 25 \
        --out results/warmup-300.json

Draws `--trials` settings of the course's four parameters (config-hptune.yaml's ranges, uniform, seeded),
trains each to --iterations with a test every --every steps (2 at once, one thread each), and prints, for
every test step s: Spearman's rank correlation between the test loss at s and at the end, and how many of
the trials that ended in the better half the median rule at s would have stopped (the pruner's mistake).
--analyse re-reads a saved --out file and prints (and saves) its analysis again, without training.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from trainer.lines import TEST_LINE

from . import hpconfig

MLENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ranks(x):
    return np.argsort(np.argsort(x))


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def run_trials(settings, iterations, every, scratch, parallel=2):
    curves, queue, running = [None] * len(settings), list(enumerate(settings)), []
    while queue or running:
        while queue and len(running) < parallel:
            i, flags = queue.pop(0)
            cmd = [sys.executable, "-m", "trainer.task", "--job-dir", os.path.join(scratch, f"t{i}"), "--threads",
                   "1", "--hp-iterations", str(iterations), "--checkpoint-every", str(every)]
            for k, v in flags.items():
                cmd += ["--" + k, str(v)]
            running.append((i, subprocess.Popen(cmd, cwd=MLENGINE, stdout=subprocess.PIPE, text=True,
                                                stderr=subprocess.STDOUT)))
        i, proc = running.pop(0)
        out = proc.communicate()[0]
        curves[i] = {int(m["step"]): float(m["loss"]) for m in map(TEST_LINE.match, out.splitlines()) if m}
        print(f"trial {i} {settings[i]}: " + " ".join(f"{s}:{v:.3f}" for s, v in sorted(curves[i].items())),
              flush=True)
    return curves


def analyse(curves):
    """Per test step s: Spearman's rho of the test loss at s against the final test and against the trial's
    end (the mean of its last 3 tests: the final test alone is noisy while the learning rate is high), and
    how many of the trials whose end is in the better half the median rule at s would have stopped."""
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    final = np.array([c[steps[-1]] for c in curves])
    end = np.array([np.mean([c[s] for s in steps[-3:]]) for c in curves])
    good = end <= np.median(end)
    rows = []
    for s in steps:
        at = np.array([c[s] for c in curves])
        rows.append({"step": s, "spearman_final": round(spearman(at, final), 3),
                     "spearman_end": round(spearman(at, end), 3),
                     "good_pruned": int(np.sum(good & (at > np.median(at)))), "good": int(good.sum())})
    return rows


def show(rows):
    for r in rows:
        print(f"step {r['step']:5d}: Spearman {r['spearman_final']:+.2f} with the final test, "
              f"{r['spearman_end']:+.2f} with the end (last 3 tests); the median rule would stop "
              f"{r['good_pruned']} of the {r['good']} trials whose end is in the better half")


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m search.warmup", description=__doc__.split("\n\n")[0])
    p.error = lambda message: (print(f"{p.prog}: error: {message} (see --help)", file=sys.stderr), sys.exit(2))
    p.add_argument("--trials", type=int, default=12, help="settings drawn and trained (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=300, help="steps of each trial (default: %(default)s)")
    p.add_argument("--every", type=int, default=25, help="steps between tests (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the settings' draw (default: %(default)s)")
    p.add_argument("--scratch", default="/tmp/warmup-curves", help="the trials' job directories "
                                                                    "(default: %(default)s)")
    p.add_argument("--out", required=True, help="the curves and their analysis, JSON")
    p.add_argument("--analyse", action="store_true", help="no training: analyse the curves in --out again")
    args = p.parse_args(argv)
    if args.trials < 4:
        p.error(f"--trials must be at least 4 (a median and ranks), got {args.trials}")
    if args.every < 1 or args.iterations < 3 * args.every:
        p.error(f"--iterations must hold at least 3 tests of --every steps (>= 1), got {args.iterations} and "
                f"{args.every}")
    if args.analyse and not os.path.isfile(args.out):
        p.error(f"--analyse reads --out {args.out}: no such file")
    return args


def main(argv=None):
    args = parse(argv)
    if args.analyse:
        with open(args.out) as f:
            saved = json.load(f)
        saved["analysis"] = analyse([{int(k): v for k, v in c.items()} for c in saved["curves"]])
        show(saved["analysis"])
        with open(args.out + ".tmp", "w") as f:
            json.dump(saved, f, indent=1)
        os.replace(args.out + ".tmp", args.out)
        return
    spec = hpconfig.read(os.path.join(MLENGINE, "config-hptune.yaml"))
    rng = np.random.default_rng(args.seed)
    settings = [{p["name"]: int(rng.integers(p["min"], p["max"] + 1)) for p in spec["params"]}
                for _ in range(args.trials)]
    curves = run_trials(settings, args.iterations, args.every, args.scratch)
    rows = analyse(curves)
    show(rows)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"command": " ".join(sys.argv), "settings": settings,
                   "curves": [{str(k): v for k, v in sorted(c.items())} for c in curves], "analysis": rows},
                  f, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
