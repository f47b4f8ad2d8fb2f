"""`--tensorboard DIR`: the event stream as TensorBoard scalars, histograms and images.

    train/loss  train/accuracy  train/lr  test/loss  test/accuracy      scalars, against the step
    weights  biases (or activations)                                     histograms
    digits/train  digits/test                                            the dashboard's two digit grids

The histograms are the dashboard's 7 percentile bands, written as they are: 7 buckets between the 8 band
boundaries, each holding 1/7 of the values. That is exactly what the stream knows (no model access from a
sink, no bigger events), and TensorBoard draws it as a density: narrow buckets are tall.
"""
from __future__ import annotations

import sys

from .events import Bands, DigitBatch, Event, RunEnded, RunStarted, TestUpdate, TrainUpdate

BUCKET_COUNT = 1000  # nominal values per band: TensorBoard needs counts, only the 1/7 shares matter


class TensorBoardSink:
    """emit() runs on the training thread: scalars are queued by SummaryWriter's own writer thread; the digit
    grids (~10 ms of numpy and a PNG encode) are made only when a new batch or test evaluation arrives."""

    def __init__(self, logdir: str, data=None):
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(log_dir=logdir)
        self.data = data
        self.n_test = len(data.test_y) if data is not None else 0

    def emit(self, e: Event) -> None:
        w = self.writer
        if isinstance(e, RunStarted):
            self.n_test = e.n_test
            w.add_text("recipe", "    " + "\n    ".join(f"{k} = {v}" for k, v in e.recipe.items()), e.start_step)
        elif isinstance(e, TrainUpdate):
            w.add_scalar("train/loss", e.loss, e.step)
            w.add_scalar("train/accuracy", e.accuracy, e.step)
            w.add_scalar("train/lr", e.lr, e.step)
        elif isinstance(e, TestUpdate):
            w.add_scalar("test/loss", e.loss, e.step)
            w.add_scalar("test/accuracy", e.accuracy, e.step)
            if self.data is not None:
                w.add_image("digits/test", self._test_grid(e), e.step, dataformats="HWC")
        elif isinstance(e, DigitBatch) and self.data is not None:
            w.add_image("digits/train", self._train_grid(e), e.step, dataformats="HWC")
        elif isinstance(e, Bands):
            for tag, bounds in (("weights", e.weights), (e.second, e.biases)):
                _add_bands(w, tag, bounds, e.step)
        elif isinstance(e, RunEnded):
            w.flush()

    def _train_grid(self, e: DigitBatch):
        import numpy as np
        from .dashboard.panels import digit_grid
        predicted = np.asarray(e.predictions)
        labels = self.data.train_y.numpy()[e.indices]
        return digit_grid(self.data.train_x.numpy()[e.indices, 0], predicted != labels, labels, predicted,
                          10, -(-len(predicted) // 10), scale=1, pad=1)

    def _test_grid(self, e: TestUpdate):
        import numpy as np
        from .dashboard.panels import TEST_COLS, digit_grid, test_selection
        indices, predicted, wrong = test_selection(e.mistakes, self.n_test or len(self.data.test_y))
        labels = self.data.test_y.numpy()[indices]
        predicted = np.where(predicted < 0, labels, predicted)
        return digit_grid(self.data.test_x.numpy()[indices, 0], wrong, labels, predicted, TEST_COLS,
                          -(-len(indices) // TEST_COLS), scale=1, pad=0)

    def close(self) -> None:
        self.writer.close()


def _add_bands(writer, tag: str, bounds: list, step: int) -> None:
    n = len(bounds) - 1
    mids = [(a + b) / 2 for a, b in zip(bounds, bounds[1:])]
    writer.add_histogram_raw(tag, min=bounds[0], max=bounds[-1], num=n * BUCKET_COUNT,
                             sum=sum(mids) * BUCKET_COUNT, sum_squares=sum(m * m for m in mids) * BUCKET_COUNT,
                             bucket_limits=list(bounds[1:]), bucket_counts=[BUCKET_COUNT] * n, global_step=step)


def make_sinks(recipe=None, data=None, run=None, control=None, options=None, **_) -> list:
    logdir = (options or {}).get("tensorboard")
    if not logdir:
        return []
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
    except ImportError:
        raise ValueError("--tensorboard needs the tensorboard package: pip install 'mnistlab[tensorboard]'") from None
    print(f"tensorboard logs: {logdir} (view with: tensorboard --logdir {logdir})", file=sys.stderr)
    return [TensorBoardSink(logdir, data)]
