"""The dashboard's state: a pure fold of the training events, drawn by every renderer.

`update(event)` runs on the training thread (a sink's emit), so it only appends a few numbers or keeps a
reference to a list the event already holds: O(1) per event, under a lock. Renderers on other threads take
a `snapshot()` (copies of the lists, ~1,000 floats each at most) and draw that, so a redraw never sees a
half-updated state. Pixels are not in the events: they come from the Dataset the run trained on.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np

from ..events import Bands, DigitBatch, Event, RunEnded, RunStarted, TestUpdate, TrainUpdate


class DashboardState:
    def __init__(self, data=None):
        self.data = data                    # mnistlab.data.Dataset (CPU) for pixels, or None: labels only
        self.lock = threading.Lock()
        self.version = 0                    # bumped by every update: a renderer redraws only when it moved
        self.recipe: dict = {}
        self.dataset = ""
        self.n_test = 0
        self.step = 0                       # the latest step any event reported
        self.status = "waiting"             # waiting | running | completed | interrupted | diverged | failed
        self.message = ""
        self.skipped: list[str] = []        # lines of metrics.jsonl that were not valid events (replay only)
        # curves: step, loss (batch or test-set mean cross-entropy), accuracy; lr for training
        self.train = {"step": [], "loss": [], "accuracy": [], "lr": []}
        self.test = {"step": [], "loss": [], "accuracy": []}
        # bands history: step and the 8 boundaries of the 7 equal-count bands, per step
        self.bands = {"step": [], "weights": [], "biases": []}
        self.second = "biases"              # what the sixth panel shows: biases | activations
        self.digits: DigitBatch | None = None   # the latest training batch shown
        self.mistakes: TestUpdate | None = None  # the latest test evaluation (its mistakes)

    # -- the fold -----------------------------------------------------------------------------------------
    def update(self, event: Event) -> None:
        with self.lock:
            self._apply(event)
            self.version += 1

    def _apply(self, e: Event) -> None:
        if isinstance(e, RunStarted):
            self.recipe, self.dataset, self.n_test = e.recipe, e.dataset, e.n_test
            self.status, self.step = "running", max(self.step, e.start_step)
            return
        step = getattr(e, "step", None)
        if step is not None:
            self.step = max(self.step, step) if not isinstance(e, RunEnded) else step
        if isinstance(e, TrainUpdate):
            for k, v in (("step", e.step), ("loss", e.loss), ("accuracy", e.accuracy), ("lr", e.lr)):
                self.train[k].append(v)
        elif isinstance(e, TestUpdate):
            for k, v in (("step", e.step), ("loss", e.loss), ("accuracy", e.accuracy)):
                self.test[k].append(v)
            self.mistakes = e
        elif isinstance(e, DigitBatch):
            self.digits = e
        elif isinstance(e, Bands):
            self.bands["step"].append(e.step)
            self.bands["weights"].append(e.weights)
            self.bands["biases"].append(e.biases)
            self.second = e.second
        elif isinstance(e, RunEnded):
            self.status, self.message = e.status, e.message

    def snapshot(self) -> "DashboardState":
        """A consistent copy to draw from on another thread (the lists copied, events shared: they are
        never mutated)."""
        with self.lock:
            snap = copy.copy(self)
            snap.lock = threading.Lock()
            snap.train = {k: list(v) for k, v in self.train.items()}
            snap.test = {k: list(v) for k, v in self.test.items()}
            snap.bands = {k: list(v) for k, v in self.bands.items()}
            snap.skipped = list(self.skipped)
        return snap

    # -- what the panels read -------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        r = self.recipe
        if not r:
            return "mnistlab"
        name = f"{r['step']} {r['name']}" if r.get("step") else r.get("name", "")
        if r.get("name") == "custom" and r.get("title"):
            name = f"your model {r['title']}"  # mnistlab.train(model=...): the class name
        return f"{name} on {self.dataset}"

    @property
    def max_test_accuracy(self) -> float | None:
        return max(self.test["accuracy"], default=None)

    @property
    def iterations(self) -> int:
        return int(self.recipe.get("iterations", 0) or 0)

    def train_images(self, indices) -> np.ndarray | None:
        """(n, 28, 28) float pixels in [0, 1] of training images, or None without the dataset."""
        return _pixels(self.data.train_x, indices) if self.data is not None else None

    def test_images(self, indices) -> np.ndarray | None:
        return _pixels(self.data.test_x, indices) if self.data is not None else None

    def test_labels(self) -> np.ndarray | None:
        return self.data.test_y.numpy() if self.data is not None else None

    def train_labels(self, indices) -> np.ndarray | None:
        return self.data.train_y.numpy()[np.asarray(indices, dtype=np.int64)] if self.data is not None else None

    # -- replay ---------------------------------------------------------------------------------------------
    @classmethod
    def from_run(cls, run_dir: str | Path, data=None, following: bool = False) -> "DashboardState":
        """The state at the end of a run dir's metrics.jsonl (finished or still running). Lines that are
        not valid events are listed in `.skipped` (a run killed mid-write leaves a torn last line; while
        `following` a live run that torn line is just not written yet, so it is not reported).
        Raises RunError if `run_dir` is not a run dir; without `data`, loads the run's dataset for pixels
        (None, with a note in .skipped, if the data files are gone)."""
        from ..runs import RunDir
        run = RunDir.open(run_dir)
        events, skipped = run.events()
        if following and skipped and skipped[-1].startswith("line "):
            skipped = skipped[:-1]
        if data is None:
            data, note = load_run_data(run)
            if note:
                skipped.append(note)
        state = cls(data)
        for e in events:
            state._apply(e)
        state.version = len(events)
        state.skipped = skipped
        if state.status == "running" and not following:
            state.status = "running or stopped"  # no run_ended yet: still training, or killed
        return state


def load_run_data(run) -> tuple[object | None, str]:
    """The dataset a run trained on, from its config, as `mnistlab eval` loads it; (None, why) if it
    cannot be loaded (the panels then show labels without pixels)."""
    from ..data import DataError, load
    config = run.config
    try:
        return load(config.get("dataset", "mnist"), config.get("data_dir")), ""
    except DataError as e:
        return None, f"digit pixels unavailable: {e}"


def _pixels(x, indices) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64)
    return x.numpy()[idx, 0] if len(idx) else np.zeros((0, 28, 28), np.float32)  # (n, 28, 28)
