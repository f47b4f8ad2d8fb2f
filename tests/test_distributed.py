"""Data-parallel training under torchrun (2 CPU processes, gloo): it learns, writes one run dir, follows the
same curve as one process (so the ranks trained on different halves of each batch), resumes, and refuses a
batch that does not split."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mnistlab.distributed import check_batch, shard_bounds

RECIPE = dict(iterations=200, eval_every=100, checkpoint_every=100)
FLAGS = ["--iterations", "200", "--eval-every", "100", "--checkpoint-every", "100", "--display", "none"]


def torchrun(*args, cwd, nproc=2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                           "--standalone", "-m", "mnistlab", *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in open(run_dir / "metrics.jsonl")]


def curve(recs) -> list[tuple]:
    return [(r["type"], r["step"], r["loss"]) for r in recs if r["type"] in ("train", "test")]


@pytest.fixture(scope="module")
def one_process(mnist):
    """The same recipe in one process: the curve two ranks must reproduce."""
    from mnistlab.loop import fit
    from mnistlab.recipes import get_recipe

    class Keep(list):
        emit, close = list.append, lambda self: None
    events = Keep()
    fit(get_recipe("1.0").replace(**RECIPE), mnist, [events], device="cpu")
    return [(e.kind, e.step, e.loss) for e in events if e.kind in ("train", "test")]


def test_shards_are_disjoint_and_cover_the_batch():
    for n, world in [(100, 2), (100, 4), (10000, 3), (7, 7)]:
        bounds = [shard_bounds(n, r, world) for r in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, no overlap
        assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1
    check_batch(100, 4)
    with pytest.raises(ValueError, match="use 99 or 102"):
        check_batch(100, 3)


def assert_same_curve(got, want):
    assert [g[:2] for g in got] == [w[:2] for w in want]
    # Float noise only: had both ranks trained on the same half, the losses would differ by ~1e-2.
    assert max(abs(g[2] - w[2]) for g, w in zip(got, want)) < 1e-4


def test_two_ranks_learn_like_one_process_and_write_one_run_dir(tmp_path, one_process):
    p = torchrun("train", "1.0", *FLAGS, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 wrote nothing
    recs = records(runs[0])
    assert sum(r["type"] == "run_started" for r in recs) == 1
    steps = [r["step"] for r in recs if r["type"] == "train"]
    assert steps == sorted(set(steps))  # one writer: no step twice
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert summary["final_test_accuracy"] > 0.88  # it learns (softmax: ~0.90 after 200 steps)
    assert_same_curve(curve(recs), one_process)
    assert p.stdout.count("run dir:") == 1  # only rank 0 prints


STOP_AT_100 = """
import os, sys
from mnistlab.loop import Control
from mnistlab.session import train
control = Control()

class StopAt100:  # only rank 0 gets sinks: its request must reach rank 1 too
    def emit(self, e):
        if e.kind == "train" and e.step == 100:
            control.stop()

    def close(self):
        pass

r = train("1.0", display="none", run_dir=sys.argv[1], control=control, sinks=[StopAt100()], device="cpu",
          iterations=200, eval_every=100, checkpoint_every=100)
print(f"rank {os.environ['RANK']}: {r.status} at step {r.summary['iterations']}")
"""


def test_a_stop_on_rank_0_stops_every_rank_and_resume_works_under_torchrun(tmp_path, one_process):
    (tmp_path / "stop.py").write_text(STOP_AT_100)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "stop.py", tmp_path / "run"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    assert sorted(p.stdout.split("\n"))[1:] == ["rank 0: interrupted at step 100", "rank 1: interrupted at step 100"]
    p = torchrun("train", "--resume", tmp_path / "run", "--display", "none", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    recs = records(tmp_path / "run")
    assert [r["start_step"] for r in recs if r["type"] == "run_started"] == [0, 100]
    assert_same_curve(curve(recs), one_process)  # as if never stopped, and as one process


def test_a_batch_that_does_not_split_is_refused_before_training(tmp_path):
    p = torchrun("train", "1.0", "--batch-size", "101", *FLAGS, cwd=tmp_path)
    assert p.returncode != 0
    assert p.stderr.count("error: --batch-size 101 is the global batch and must split evenly over "
                          "the 2 ranks; use 100 or 102") == 1  # rank 0 says it, rank 1 exits quietly
    assert "exitcode  : 2" in p.stderr  # torchrun's report of the ranks' usage-error status
    assert not (tmp_path / "runs").exists()
