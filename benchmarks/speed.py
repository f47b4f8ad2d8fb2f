"""The README's speed table in one run on one machine: the textbook baseline, then `mnistlab bench`.

    python benchmarks/speed.py [--seeds 5] [--recipes fast fast995] [--baseline-epochs 14]

Writes benchmarks/results/baseline.json and benchmarks/results/bench.json and prints the Markdown table.
The baseline stops after its first epoch at 99% test accuracy (it evaluates once per epoch, as the example
does); pass --baseline-stop-at 1 to run all its epochs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--recipes", nargs="+", default=["fast", "fast995"])
    p.add_argument("--baseline-epochs", type=int, default=14)
    p.add_argument("--baseline-stop-at", type=float, default=0.99)
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(HERE / "baseline_textbook.py"), "--epochs", str(args.baseline_epochs),
                    "--stop-at", str(args.baseline_stop_at), "--json", str(out / "baseline.json")], check=True)
    subprocess.run([sys.executable, "-m", "mnistlab", "bench", *args.recipes, "--seeds", str(args.seeds),
                    "--json", str(out / "bench.json")], check=True)
    base = json.loads((out / "baseline.json").read_text())
    t = base["time_to_accuracy"]
    fmt = lambda v: "not reached" if v is None else f"{v:.1f} s"  # noqa: E731
    print("\nbaseline, same machine: | textbook (pytorch/examples, Adadelta, batch 64, DataLoader) | "
          f"{fmt(t['0.98'])} | {fmt(t['0.99'])} | {fmt(t['0.995'])} | {base['max_test_accuracy']:.2%} "
          f"after {len(base['epochs'])} epoch(s) | {base['steps_per_second']:.0f} | {base['peak_memory_mb']:.0f} |")


if __name__ == "__main__":
    main()
