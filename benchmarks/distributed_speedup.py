"""Speed-up of data-parallel training on CPU: N torchrun ranks vs one process, for a fixed amount of work.

    python benchmarks/distributed_speedup.py [--recipe 3.1] [--iterations 300] [--ranks 2] [--repeats 3]

Every configuration trains the same global batches (--iterations steps of the recipe's batch, one test at
the end), interleaved over the repeats so machine load hits all alike. It prints the training time from
summary.json (the loop alone: no process start, no data load) and the whole command's wall time, median
and range over repeats, with `uptime` before and after: on a shared machine, quote the load with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="3.1")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    train = ["train", args.recipe, "--iterations", str(args.iterations), "--eval-every", str(args.iterations),
             "--display", "none"]
    configs = {  # name -> (command prefix, OMP threads per process)
        "1 process, 1 thread": ([sys.executable, "-m", "mnistlab"], 1),
        f"1 process, {args.ranks} threads": ([sys.executable, "-m", "mnistlab"], args.ranks),
        f"{args.ranks} ranks x 1 thread (gloo)": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                  "--nproc-per-node", str(args.ranks), "-m", "mnistlab"], 1),
    }
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    loop, wall = {n: [] for n in configs}, {n: [] for n in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n, (prefix, threads) in configs.items():
                run_dir = Path(tmp) / f"{r}-{len(loop[n])}-{hash(n) & 0xffff}"
                t = time.perf_counter()
                subprocess.run([*prefix, *train, "--run-dir", str(run_dir)], check=True, capture_output=True,
                               env={**os.environ, "OMP_NUM_THREADS": str(threads)})
                wall[n].append(time.perf_counter() - t)
                loop[n].append(json.loads((run_dir / "summary.json").read_text())["wall_seconds"])
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    base = statistics.median(loop["1 process, 1 thread"])
    print(f"{args.recipe}, {args.iterations} steps of the recipe's batch, median [min-max] of {args.repeats}:")
    for n in configs:
        m = statistics.median(loop[n])
        print(f"  {n:<28} loop {m:6.1f} s [{min(loop[n]):.1f}-{max(loop[n]):.1f}]  speed-up {base / m:4.2f}x"
              f"   whole command {statistics.median(wall[n]):6.1f} s")


if __name__ == "__main__":
    main()
