"""Run directories: the event stream on disk, plus what it takes to rebuild and resume the model.

    RUN_DIR/config.json     recipe, seed, dataset, device, versions            (written once, atomically)
    RUN_DIR/metrics.jsonl   one event per line, appended and flushed per record
    RUN_DIR/checkpoint.pt   weights, optimiser, step, every RNG state, batch order  (atomic replace)
    RUN_DIR/summary.json    max/final accuracy, wall time, time to accuracy     (at the end, atomically)

Only this module writes a run dir. Every write that replaces a file goes to a temp file in the same folder
and is renamed over the old one, so a crash or kill -9 leaves either the old or the new file, never half.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

import torch

from .events import Event, from_record, to_json

CONFIG, METRICS, CHECKPOINT, SUMMARY = "config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"
MIN_FREE_BYTES = 64 << 20  # checkpoints of the biggest recipe are ~10 MB; metrics a few MB


class RunError(Exception):
    """A run dir that cannot be used as asked; the message says why and what to do."""


def default_run_dir(recipe_name: str, root: str | Path = "runs") -> Path:
    return Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{recipe_name}"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path: str | Path, obj) -> None:
    _atomic_write(Path(path), lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file and a rename (exported images outside run dirs too)."""
    _atomic_write(Path(path), lambda f: f.write(data))
    return Path(path)


def read_events(path: str | Path) -> tuple[list[Event], list[str]]:
    """All valid events of a metrics.jsonl, and a description of each line skipped (e.g. a truncated last
    line of a run killed mid-write)."""
    events, skipped = [], []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(from_record(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                skipped.append(f"line {n}: not a valid event ({len(line)} bytes)")
    return events, skipped


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- creating and opening ------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict) -> "RunDir":
        """A new run dir, checked before any training: not an existing run, writable, enough space."""
        run = cls(path)
        if (run / CONFIG).exists():
            raise RunError(f"{run.path} already holds a run; continue it with `mnistlab train --resume {run.path}` "
                           "or choose another --run-dir")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            probe = run / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise RunError(f"cannot write to run dir {run.path}: {e.strerror}; choose a writable --run-dir") from None
        free = shutil.disk_usage(run.path).free
        if free < MIN_FREE_BYTES:
            raise RunError(f"only {free >> 20} MiB free at {run.path}; a run needs at least "
                           f"{MIN_FREE_BYTES >> 20} MiB; free some space or choose another --run-dir")
        write_json_atomic(run / CONFIG, config)
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not (run / CONFIG).is_file():
            raise RunError(f"{run.path} is not a run dir (no {CONFIG}); runs are made by `mnistlab train`")
        return run

    @property
    def config(self) -> dict:
        try:
            return json.loads((self / CONFIG).read_text())
        except (OSError, ValueError) as e:
            raise RunError(f"{self / CONFIG}: unreadable ({e})") from None

    def has_checkpoint(self) -> bool:
        return (self / CHECKPOINT).is_file()

    # -- writing ---------------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> Path:
        _atomic_write(self / CHECKPOINT, lambda f: torch.save(state, f))
        return self / CHECKPOINT

    def load_checkpoint(self, map_location="cpu") -> dict:
        if not self.has_checkpoint():
            raise RunError(f"{self.path} has no {CHECKPOINT} yet (the run stopped before its first checkpoint); "
                           "start it again")
        try:
            # weights_only: a checkpoint is tensors and plain data, never arbitrary pickled objects.
            return torch.load(self / CHECKPOINT, map_location=map_location, weights_only=True)
        except Exception as e:  # noqa: BLE001  (torch raises many types for a damaged file)
            raise RunError(f"{self / CHECKPOINT}: cannot be loaded ({type(e).__name__}: {e})") from None

    def load_model(self, device="cpu"):
        """(model in eval mode, recipe), rebuilt from config.json and the checkpoint's weights alone."""
        from .models import build_model
        from .recipes import Recipe
        config = self.config
        if config.get("model_class"):
            raise RunError(f"{self.path} trained your own model ({config['model_class']}); build it in Python and "
                           f"load_state_dict(RunDir({str(self.path)!r}).load_checkpoint()['model'])")
        recipe = Recipe.from_dict(config["recipe"])
        model = build_model(recipe)
        model.load_state_dict(self.load_checkpoint(device)["model"])
        return model.to(device).eval(), recipe

    def write_file(self, name: str, data: bytes) -> Path:
        """An extra file of the run (the dashboard PNG), written atomically."""
        return write_bytes_atomic(self / name, data)

    def discard(self) -> None:
        """Remove a run dir that `create` just made, when the training could not start after all (e.g. no
        display for --display window): only its config.json, and the folder if nothing else is in it."""
        (self / CONFIG).unlink(missing_ok=True)
        try:
            self.path.rmdir()
        except OSError:
            pass

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self / SUMMARY, summary)

    @property
    def summary(self) -> dict | None:
        try:
            return json.loads((self / SUMMARY).read_text())
        except (OSError, ValueError):
            return None

    def events(self) -> tuple[list[Event], list[str]]:
        if not (self / METRICS).exists():
            return [], [f"{self / METRICS} is missing"]
        return read_events(self / METRICS)

    def truncate_metrics(self, step: int) -> None:
        """Drop records after `step` (written after the last checkpoint of a killed run), so a resumed run's
        stream reads exactly as if it had never stopped."""
        path = self / METRICS
        if not path.exists():
            return
        keep = []
        for line in path.read_bytes().splitlines(keepends=True):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line
            if record.get("step", 0) <= step:
                keep.append(line if line.endswith(b"\n") else line + b"\n")
        _atomic_write(path, lambda f: f.write(b"".join(keep)))


class RunDirSink:
    """Appends every event to metrics.jsonl, flushed per record so a live `show` or a crash sees it."""

    def __init__(self, run: RunDir):
        self.run = run
        self._f = open(run / METRICS, "a", encoding="utf-8")

    def emit(self, event: Event) -> None:
        self._f.write(to_json(event) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def find_runs(root: str | Path = "runs") -> Iterable[RunDir]:
    root = Path(root)
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if (p / CONFIG).is_file():
                yield RunDir(p)
