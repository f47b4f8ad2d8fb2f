"""Mistakes by digit, from what each test run fetched: tf_format_mnist_images returns the confusion matrix of
every digit it is fed (rows: the correct digit, columns: the one computed; 400 bytes) with the test panel's
digits. Mistakes keeps one per test run, for the per-digit accuracy and how the most confused pairs change as
the network trains; test_digit() picks a digit of the last test for the inside view's trace.

    history = mistakes.Mistakes()
    history.observe(vis)                          # after every test run: an identity check, nothing fetched
    digit = mistakes.test_digit(vis.digits_fetched("test"), k)
"""
import dataclasses

import numpy as np

HISTORY = 1000            # confusion matrices kept: the course's longest run tests about 105 times


@dataclasses.dataclass(frozen=True, eq=False)
class Digit:
    """A test digit as the last test run saw it: pixels [28, 28] float32 (the test set's own values), its
    correct label, the class that test computed, and its place k among the digits the test panel shows."""
    pixels: np.ndarray
    label: int
    computed: int
    k: int


def test_digit(fetched, k=0):
    """The k-th digit (modulo those shown) of what tf_format_mnist_images fetched for the test panel: mistakes
    come first, so k=0 is a mistake when the test had one. Its pixels are the test set's exactly (uint8 back to
    mnistdata's float32 x / 255). None before the first test."""
    if not fetched:
        return None
    shown = int(fetched["shown"])
    if shown == 0:
        return None
    k %= shown
    pixels = fetched["digits"][k].astype(np.float32)
    pixels *= 1.0 / 255.0                      # as mnistdata scales the bytes: the same float32 values
    return Digit(pixels, int(fetched["labels"][k]), int(fetched["computed"][k]), k)


class Mistakes:
    """The confusion matrix at every test run (rows: the correct digit, columns: the one computed), kept as the
    tests come; `version` moves with each, so a display redraws only when it changed. One list of (iteration,
    matrix) pairs, appended or replaced whole: the display's thread reads it while the training's adds."""

    def __init__(self):
        self.tests = []
        self.version = 0
        self._seen = None

    def add(self, iteration, matrix):
        tests = self.tests
        if len(tests) >= HISTORY:              # thin out the older half, keeping the first test
            tests = tests[:1] + tests[1:HISTORY // 2:2] + tests[HISTORY // 2:]
        self.tests = tests + [(int(iteration), np.asarray(matrix, np.int64).reshape(10, 10))]
        self.version += 1

    def observe(self, vis):
        """Take the latest test run's matrix from a MnistDataVis, if it is new (an identity check: call it as
        often as convenient). Its iteration is that of the last test point on the curves."""
        fetched = vis.digits_fetched("test")
        if fetched is None or fetched is self._seen or "confusion" not in fetched:
            return False
        self._seen = fetched
        tested = vis.test[0]
        self.add(tested[-1] if tested else vis.iteration, fetched["confusion"])
        return True

    @property
    def latest(self):
        """(iteration, matrix [10, 10]) of the latest test, or None."""
        return self.tests[-1] if self.tests else None

    def right(self):
        """(digits right, digits tested) at the latest test: the diagonal's sum, and the matrix's."""
        m = self.latest[1]
        return int(np.trace(m)), int(m.sum())

    def per_digit(self):
        """float [10]: each digit's accuracy at the latest test (NaN for a digit never tested)."""
        m = self.latest[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(m) / m.sum(1)

    def pairs(self, count=5):
        """The `count` most confused (correct, computed) pairs at the latest test, most mistakes first (pairs
        without a mistake left out), and their mistakes at every test: ([pairs], iterations [T], counts [T, k])."""
        tests = self.tests
        if not tests:
            return [], np.zeros(0, int), np.zeros((0, 0), int)
        off = tests[-1][1].copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(-off, axis=None, kind="stable")[:count]
        chosen = [divmod(int(f), 10) for f in flat if off.flat[f] > 0]
        counts = np.array([[m[a, b] for a, b in chosen] for _, m in tests], int).reshape(len(tests), len(chosen))
        return chosen, np.array([i for i, _ in tests]), counts
