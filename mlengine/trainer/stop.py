"""Ctrl-C (SIGINT) and SIGTERM (a pre-empted cloud machine, a pruned trial, the launcher) during the job's
training loop. No TensorFlow here."""
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """SIGINT (Ctrl-C) and SIGTERM ask the loop to stop after the current step. The handler only takes note:
    raising from it could land in any frame, even one whose exception Python ignores. A second Ctrl-C stops
    at once (Python's default), leaving the last checkpoint."""

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.note) for s in SIGNALS}
        return self

    def note(self, signum, frame):
        self.signal = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
