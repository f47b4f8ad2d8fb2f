"""The console sink: a progress bar (step, it/s, latest accuracies, ETA) and the course's text lines."""
from __future__ import annotations

import sys

from .events import Event, RunEnded, RunStarted, TestUpdate, TrainUpdate


class ConsoleSink:
    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.bar = None
        self.train_acc = self.test_acc = None
        self.max_acc = 0.0

    def emit(self, event: Event) -> None:
        from tqdm import tqdm
        if isinstance(event, RunStarted):
            r = event.recipe
            what = f"{r['step']} {r['name']}" if r.get("step") else r["name"]
            print(f"training {what} on {event.dataset} ({event.n_train:,} images), {event.device}, "
                  f"{event.parameters:,} parameters, {r['iterations']:,} steps of {r['batch_size']}"
                  + (f", resumed at step {event.start_step:,}" if event.start_step else "")
                  + (f"\nrun dir: {event.run_dir}" if event.run_dir else ""), file=self.file, flush=True)
            self.bar = tqdm(total=r["iterations"], initial=event.start_step, file=self.file, unit="step",
                            dynamic_ncols=True, mininterval=0.5)
        elif isinstance(event, TrainUpdate) and self.bar is not None:
            self.train_acc = event.accuracy
            self.bar.update(event.step - self.bar.n)
            self._postfix()
        elif isinstance(event, TestUpdate):
            self.test_acc = event.accuracy
            self.max_acc = max(self.max_acc, event.accuracy)
            line = (f"{event.step}: ********* test accuracy: {event.accuracy:.4f} test loss: {event.loss:.4f} "
                    f"(max {self.max_acc:.4f}, {event.seconds:.1f} s)")
            (self.bar.write(line, file=self.file) if self.bar is not None else print(line, file=self.file))
            self._postfix()
        elif isinstance(event, RunEnded) and self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            self.bar.close()
            self.bar = None

    def _postfix(self):
        if self.bar is not None:
            parts = {}
            if self.train_acc is not None:
                parts["train"] = f"{self.train_acc:.3f}"
            if self.test_acc is not None:
                parts["test"] = f"{self.test_acc:.4f}"
            self.bar.set_postfix(parts, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_summary(s: dict) -> str:
    tta = s.get("time_to_accuracy") or {}
    t99 = tta.get("0.99")
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    return (f"{s['status']}: {s['recipe']} after {s['iterations']:,} steps in {s['wall_seconds']:.1f} s "
            f"on {s['device']}: max test accuracy {fmt(s['max_test_accuracy'])}, "
            f"final {fmt(s['final_test_accuracy'])}"
            + (f", 99% after {t99:.1f} s" if t99 is not None else ""))
