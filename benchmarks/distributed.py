"""1 worker against 2 local workers (not a test): the same job, global batch 100, same steps and seed.

    python benchmarks/distributed.py                    # 600 steps, tested every 100
    python benchmarks/distributed.py --steps 3000 --checkpoint-every 200

Runs `python -m trainer.task` (one process, the plain job) and `python -m trainer.task --workers 2` (two
processes, MultiWorkerMirroredStrategy over loopback gRPC, one TensorFlow thread each) one after the other
in fresh job directories, and records the test accuracy and loss at every checkpoint (the job's own test
lines), the wall time of each command (start-up included: TensorFlow's import, the cluster's handshake) and
the job's own training time from metrics.json, with the load average before and after each run: this
machine's 2 cores are shared with other work, so the times are noisy. On 2 cores the 2 workers cannot be
faster (each has 1 core, and every step adds an all-reduce of the gradients); what the run shows is that
the curves agree and the mechanism works. Writes benchmarks/results/distributed.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "mlengine"))
from trainer.lines import TEST_LINE  # (the job's own pattern: light, no TensorFlow)


def run(workers, steps, every, job_dir):
    shutil.rmtree(job_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "trainer.task", "--job-dir", job_dir, "--hp-iterations", str(steps),
           "--checkpoint-every", str(every)] + (["--workers", str(workers)] if workers > 1 else [])
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=os.path.join(ROOT, "mlengine"), capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    wall = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"distributed.py: {' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    curve = [{"step": int(m["step"]), "test_accuracy": float(m["accuracy"]), "test_loss": float(m["loss"])}
             for m in TEST_LINE.finditer(done.stdout)]
    metrics = json.load(open(os.path.join(job_dir, "metrics.json")))
    return {"workers": workers, "command": " ".join(["python", "-m", "trainer.task"] + cmd[3:]),
            "wall_seconds": round(wall, 1), "train_seconds": metrics["train_seconds_this_run"],
            "ms_per_step": metrics["ms_per_step_this_run"], "final_test_accuracy": metrics["test_accuracy"],
            "final_test_loss": round(metrics["test_loss"], 4), "curve": curve,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "mlengine", "bench-distributed"))
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "distributed.json"))
    args = p.parse_args()
    results = []
    for workers in (1, 2):
        r = run(workers, args.steps, args.checkpoint_every, os.path.join(args.runs_dir, f"{workers}w-{args.steps}"))
        results.append(r)
        print(f"{workers} worker(s): wall {r['wall_seconds']} s (training {r['train_seconds']} s, "
              f"{r['ms_per_step']} ms/step), final test accuracy {r['final_test_accuracy']:.4f} "
              f"loss {r['final_test_loss']:.4f}; load {r['load_average_before'][0]} -> "
              f"{r['load_average_after'][0]}", flush=True)
    print("step  " + "  ".join(f"{r['workers']}w accuracy" for r in results))
    for points in zip(*(r["curve"] for r in results)):
        print(f"{points[0]['step']:<5} " + "  ".join(f"{pt['test_accuracy']:.4f}     " for pt in points))
    out = {"machine": f"{os.cpu_count()} CPU cores, shared with other work", "steps": args.steps,
           "global_batch": 100, "checkpoint_every": args.checkpoint_every, "runs": results,
           "when": time.strftime("%Y-%m-%d %H:%M")}
    previous = json.load(open(args.out)) if os.path.exists(args.out) else {}
    previous[str(args.steps)] = out  # one entry per step count: 600 and 3000 side by side
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(previous, f, indent=2)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
