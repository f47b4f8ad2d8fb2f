"""`mnistlab bench` and `mnistlab ensemble` through the real command line, and the benchmark statistics."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from mnistlab.bench import stats

SHORT = ("--iterations", "30", "--eval-every", "10", "--eval-from", "0", "--batch-size", "64")


def summary(seed, t98=None, t99=None, acc=0.985):
    return {"seed": seed, "time_to_accuracy": {"0.98": t98, "0.99": t99, "0.995": None}, "max_test_accuracy": acc,
            "final_test_accuracy": acc, "steps_per_second": 100.0, "wall_seconds": 5.0, "peak_memory_mb": 400.0}


def test_stats_count_a_missed_target_as_later_than_any_time():
    runs = [summary(0, 1.0, 3.0), summary(1, 2.0, None), summary(2, 3.0, 4.0), {"seed": 3, "error": "boom"}]
    s = stats(runs)
    assert s["seeds"] == 4 and s["failed"] == 1
    assert s["time_to_0.98"] == {"median": 2.0, "min": 1.0, "max": 3.0, "reached": "3/4"}
    assert s["time_to_0.99"]["median"] == 4.0 and s["time_to_0.99"]["reached"] == "2/4"  # 3, 4, never
    assert s["time_to_0.995"] == {"median": None, "min": None, "max": None, "reached": "0/4"}
    assert stats([{"seed": 0, "error": "x"}])["max_test_accuracy"] is None


@pytest.mark.parametrize("args,message", [
    (["nope"], "unknown recipe 'nope'"),
    (["fast", "--seeds", "0"], "--seeds must be at least 1"),
    (["fast", "--seed", "3"], "not --seed"),
    (["fast", "--lr-max", "-1"], "--lr-max must be > 0"),
    (["fast", "--threads", "0"], "--threads must be at least 1"),
])
def test_bench_bad_input_is_a_clear_error_before_any_run(tmp_path, args, message):
    p = run_cli("bench", *args, "--json", tmp_path / "b.json")
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "b.json").exists()


def test_bench_reports_every_seed_keeps_failures_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    p = run_cli("bench", "fast", "1.0", "--seeds", "2", *SHORT, "--lr-max", "0.2", "--json", out,
                "--runs-dir", tmp_path / "runs", "--threads", "1", check=True)
    report = json.loads(out.read_text())
    fast = report["recipes"]["fast"]
    assert [r["seed"] for r in fast["runs"]] == [0, 1] and fast["stats"]["failed"] == 0
    assert {r["iterations"] for r in fast["runs"]} == {30} and fast["runs"][0]["threads"] == 1
    assert fast["stats"]["time_to_0.995"]["median"] is None  # 30 steps: never 99.5%
    assert "not reached (0/2)" in p.stdout and "| fast | 2/2 |" in p.stdout
    assert (tmp_path / "runs" / "fast-seed1" / "summary.json").is_file()
    assert "1 thread(s)" in report["machine"]


def test_a_diverging_seed_is_a_row_not_a_crash(tmp_path):
    out = tmp_path / "bench.json"
    p = run_cli("bench", "2.1", "--seeds", "1", "--lr-max", "1e30", *SHORT, "--json", out, check=True)
    run = json.loads(out.read_text())["recipes"]["five_layer_relu"]["runs"][0]
    assert "diverged" in run["error"]
    assert "| five_layer_relu | 0/1 |" in p.stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    for seed in (0, 1):
        run_cli("train", "fast", "--seed", seed, *SHORT, "--run-dir", root / f"s{seed}", "--display", "none", check=True)
    return [root / "s0", root / "s1"]


def test_ensemble_averages_the_members_probabilities(two_runs, mnist):
    import torch
    from mnistlab.metrics import probabilities
    from mnistlab.runs import RunDir
    p = run_cli("ensemble", *two_runs, "--json", check=True)
    result = json.loads(p.stdout)
    probs = [probabilities(RunDir.open(d).load_model("cpu")[0], mnist.test_x) for d in two_runs]
    expected = ((probs[0] + probs[1]).argmax(1) == mnist.test_y).float().mean().item()
    assert result["test_accuracy"] == pytest.approx(expected, abs=2e-4)
    assert [m["seed"] for m in result["members"]] == [0, 1]
    assert result["mistakes"] == round((1 - result["test_accuracy"]) * 10000)
    text = run_cli("ensemble", *two_runs, check=True).stdout
    assert "ensemble of 2: test accuracy" in text


def test_ensemble_refuses_what_it_cannot_average(two_runs, tmp_path):
    p = run_cli("ensemble", two_runs[0], tmp_path)
    assert p.returncode == 1 and "is not a run dir" in p.stderr
    cfg = json.loads((two_runs[1] / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**cfg, "dataset": "fashion-mnist"}))
    p = run_cli("ensemble", two_runs[0], other)
    assert p.returncode == 1 and "one dataset" in p.stderr and "fashion-mnist" in p.stderr
