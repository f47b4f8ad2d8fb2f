"""The training loop: events, bands, divergence, pause/stop, and exact resumption."""
from __future__ import annotations

import json
import threading

import pytest
import torch
import torch.nn as nn

from mnistlab.events import Bands, DigitBatch, RunEnded, RunStarted, TestUpdate, TrainUpdate, from_record, to_json, to_record
from mnistlab.loop import Control, Diverged, fit
from mnistlab.metrics import percentile_bands, time_to_accuracy
from mnistlab.recipes import get_recipe
from mnistlab.runs import RunDir, read_events


class Collect:
    def __init__(self, on_event=None):
        self.events, self.on_event = [], on_event

    def emit(self, e):
        self.events.append(e)
        if self.on_event:
            self.on_event(e)

    def close(self):
        pass


def _curve(events):
    """What must be identical between an interrupted-and-resumed run and an uninterrupted one."""
    return [(type(e).__name__, e.step, e.loss, e.accuracy, getattr(e, "mistakes", None), getattr(e, "lr", None))
            for e in events if isinstance(e, (TrainUpdate, TestUpdate))] + \
           [(e.step, e.indices, e.predictions) for e in events if isinstance(e, DigitBatch)]


SMALL = dict(iterations=120, train_every=10, eval_every=40, digits_every=30, bands_every=20, checkpoint_every=50)


def test_event_stream_of_a_run(tiny_mnist, tmp_path):
    sink = Collect()
    run = RunDir.create(tmp_path / "run", {"recipe": {}})
    result = fit(get_recipe("2.2").replace(**SMALL), tiny_mnist, [sink], run=run, device="cpu")
    kinds = [type(e) for e in sink.events]
    assert kinds[0] is RunStarted and kinds[-1] is RunEnded and result.status == "completed"
    assert [e.step for e in sink.events if isinstance(e, TestUpdate)] == [40, 80, 120]
    digits = [e for e in sink.events if isinstance(e, DigitBatch)]
    assert len(digits) == 4 and all(len(d.indices) == len(d.predictions) == 100 for d in digits)
    test = [e for e in sink.events if isinstance(e, TestUpdate)][-1]
    assert len(test.mistakes) == round((1 - test.accuracy) * len(tiny_mnist.test_y))
    assert all(tiny_mnist.test_y[i] != p for i, p in test.mistakes)
    bands = [e for e in sink.events if isinstance(e, Bands)]
    assert len(bands) == 6 and all(b.second == "biases" and b.weights == sorted(b.weights) for b in bands)
    # the run dir holds the same stream, one JSON record per line
    on_disk, skipped = read_events(tmp_path / "run" / "metrics.jsonl")
    assert not skipped and [to_record(e) for e in on_disk] == [json.loads(to_json(e)) for e in sink.events]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["max_test_accuracy"] == max(e.accuracy for e in sink.events if isinstance(e, TestUpdate))
    assert set(s["time_to_accuracy"]) == {"0.92", "0.97", "0.98", "0.99", "0.993", "0.995", "0.997"}


def test_batchnorm_nets_report_activation_bands(tiny_mnist):
    sink = Collect()
    fit(get_recipe("4.1").replace(**SMALL), tiny_mnist, [sink], device="cpu")
    bands = [e for e in sink.events if isinstance(e, Bands)]
    assert bands and all(b.second == "activations" for b in bands)
    assert all(b.biases[0] >= 0 for b in bands)  # ReLU outputs: never negative


def test_percentile_bands_hold_a_seventh_each():
    values = torch.randn(7000)
    b = percentile_bands([values[:3000], values[3000:].view(40, 100)])
    assert len(b) == 8 and b == sorted(b)
    counts = [int(((values >= lo) & (values <= hi)).sum()) for lo, hi in zip(b, b[1:])]
    assert all(abs(c - 1000) <= 2 for c in counts)


def test_time_to_accuracy():
    curve = [(1.0, 0.90), (2.0, 0.975), (3.0, 0.991), (4.0, 0.985)]
    t = time_to_accuracy(curve, (0.92, 0.97, 0.99, 0.995))
    assert t == {"0.92": 2.0, "0.97": 2.0, "0.99": 3.0, "0.995": None}


def test_events_round_trip_through_json():
    e = TestUpdate(step=5, loss=0.1, accuracy=0.9, seconds=1.5, mistakes=[[3, 7]])
    assert from_record(json.loads(json.dumps(to_record(e)))) == e


def test_interrupt_then_resume_reproduces_the_uninterrupted_run(tiny_mnist, tmp_path):
    recipe = get_recipe("2.2").replace(**SMALL)  # dropout: the RNG state must survive too
    whole = Collect()
    fit(recipe, tiny_mnist, [whole], run=RunDir.create(tmp_path / "a", {}), device="cpu")

    control = Control()
    first = Collect(lambda e: control.stop() if isinstance(e, TrainUpdate) and e.step == 70 else None)
    run = RunDir.create(tmp_path / "b", {})
    r1 = fit(recipe, tiny_mnist, [first], run=run, device="cpu", control=control)
    assert r1.status == "interrupted" and r1.summary["iterations"] == 70
    second = Collect()
    r2 = fit(recipe, tiny_mnist, [second], run=run, device="cpu", resume=True)
    assert r2.status == "completed"
    assert _curve(first.events + second.events) == _curve(whole.events)
    on_disk, _ = read_events(tmp_path / "b" / "metrics.jsonl")
    assert _curve(on_disk) == _curve(whole.events)


def test_resume_drops_what_a_killed_run_wrote_after_its_checkpoint(tiny_mnist, tmp_path):
    recipe = get_recipe("2.1").replace(**SMALL)
    whole = Collect()
    fit(recipe, tiny_mnist, [whole], run=RunDir.create(tmp_path / "a", {}), device="cpu")
    run = RunDir.create(tmp_path / "b", {})
    control = Control()
    fit(recipe, tiny_mnist, [Collect(lambda e: control.stop() if getattr(e, "step", 0) == 50 and
                                     e.kind == "checkpoint" else None)], run=run, device="cpu", control=control)
    # As if kill -9 struck later: records past the checkpoint, and a torn last line.
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(to_record(TrainUpdate(60, 9.0, 0.1, 0.1, 1.0))) + "\n" + '{"type": "tra')
    fit(recipe, tiny_mnist, [], run=run, device="cpu", resume=True)
    on_disk, skipped = read_events(run / "metrics.jsonl")
    assert not skipped and _curve(on_disk) == _curve(whole.events)


class NaNAfter(nn.Module):
    """A network whose output becomes NaN from the k-th forward pass in training mode."""

    def __init__(self, k):
        super().__init__()
        self.fc, self.k, self.calls = nn.Linear(784, 10), k, 0

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls >= self.k:
                out = out * float("nan")
        return out


def test_divergence_stops_at_once_and_keeps_the_last_good_checkpoint(tiny_mnist, tmp_path):
    run = RunDir.create(tmp_path / "run", {})
    sink = Collect()
    recipe = get_recipe("1.0").replace(iterations=100, checkpoint_every=10, eval_every=10)
    with pytest.raises(Diverged, match="at step 25"):
        fit(recipe, tiny_mnist, [sink], run=run, device="cpu", model=NaNAfter(25))
    state = run.load_checkpoint()
    assert state["step"] == 20 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert sink.events[-1].status == "diverged" and "learning rate" in sink.events[-1].message


def test_pause_stops_the_step_counter(tiny_mnist):
    control = Control()
    steps = []
    paused = threading.Event()

    def on_event(e):
        if isinstance(e, TrainUpdate):
            steps.append(e.step)
            if e.step == 20:
                control.pause()
                paused.set()

    t = threading.Thread(target=fit, args=(get_recipe("1.0").replace(iterations=10**6, eval_every=10**5),
                                           tiny_mnist, [Collect(on_event)]), kwargs=dict(device="cpu", control=control))
    t.start()
    assert paused.wait(30)
    seen = len(steps)
    threading.Event().wait(0.5)
    assert len(steps) == seen and steps[-1] == 20  # no step while paused
    control.resume()
    threading.Event().wait(0.3)
    control.stop()
    t.join(30)
    assert steps[-1] > 20 and not t.is_alive()
