"""The training as a stream of events: small dataclasses, each one JSON line in a run's metrics.jsonl.

The loop emits them to sinks (console, run dir, dashboard, tensorboard, web); `show`, `compare`, `--resume`
and a browser that connects late read the same records back, so a replay cannot drift from the live view.
Heavy payloads are compact: digits are indices into the dataset (pixels live in the data files), and a test
evaluation stores only its mistakes as (index, predicted) pairs, from which every panel and the confusion
matrix follow. Losses are batch means of the cross-entropy (the course plotted mean x 100).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Union


@dataclass
class RunStarted:
    kind: ClassVar[str] = "run_started"
    recipe: dict                      # Recipe.to_dict()
    dataset: str
    device: str
    n_train: int
    n_test: int
    parameters: int                   # trainable parameter count
    start_step: int = 0               # > 0 when resumed
    run_dir: str = ""
    time: float = 0.0                 # unix time


@dataclass
class TrainUpdate:
    kind: ClassVar[str] = "train"
    step: int                         # optimiser steps done
    loss: float                       # mean cross-entropy of the last batch
    accuracy: float                   # on the last batch
    lr: float
    seconds: float                    # training wall time so far (resumes add up)


@dataclass
class TestUpdate:
    kind: ClassVar[str] = "test"
    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name
    step: int
    loss: float                       # mean cross-entropy over the whole test set
    accuracy: float
    seconds: float
    mistakes: list = field(default_factory=list)  # [[test index, predicted class], ...], all of them


@dataclass
class DigitBatch:
    kind: ClassVar[str] = "digits"
    step: int
    indices: list                     # training-set indices of the batch shown (100)
    predictions: list                 # the model's class for each, same order


@dataclass
class Bands:
    kind: ClassVar[str] = "bands"
    step: int
    weights: list                     # 8 boundaries of 7 equal-count bands: min, 1/7 ... 6/7 quantiles, max
    biases: list                      # the same for biases, or for activations when `second` says so
    second: str = "biases"            # "biases" | "activations" (batch-norm nets, as in the course)


@dataclass
class CheckpointSaved:
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass
class RunEnded:
    kind: ClassVar[str] = "run_ended"
    step: int
    status: str                       # completed | interrupted | diverged | failed
    message: str = ""
    summary: dict = field(default_factory=dict)


Event = Union[RunStarted, TrainUpdate, TestUpdate, DigitBatch, Bands, CheckpointSaved, RunEnded]
EVENT_TYPES = {cls.kind: cls for cls in (RunStarted, TrainUpdate, TestUpdate, DigitBatch, Bands,
                                          CheckpointSaved, RunEnded)}


def to_record(event: Event) -> dict:
    return {"type": event.kind, **dataclasses.asdict(event)}


def from_record(record: dict) -> Event:
    """Raises KeyError/TypeError on a record that is not an event of this version."""
    cls = EVENT_TYPES[record["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in record.items() if k in names})


def to_json(event: Event) -> str:
    return json.dumps(to_record(event), separators=(",", ":"))


class Sink(Protocol):
    """Anything that consumes the stream. `emit` runs on the training thread: keep it cheap."""

    def emit(self, event: Event) -> None: ...

    def close(self) -> None: ...
