"""Ctrl-C (SIGINT) and SIGTERM (a pre-empted cloud machine, a pruned trial, the launcher) for the job.

    start-up (TensorFlow's import, the data, the restore)   stop at once: Stopped, one line, nothing to save
    the training loop                                       take note; the loop saves a checkpoint and stops
                                                            after the step (a second Ctrl-C: stop at once)
    the end (after the final checkpoint: test, export)      stop at once, the checkpoint being saved

No TensorFlow here: the handlers are in place before TensorFlow's import, which takes seconds.
"""
import contextlib
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(BaseException):
    """A stop request acted on at once. Not an Exception: no library's `except Exception` swallows it."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


class StopRequests:
    """The job's handler of SIGINT and SIGTERM, installed for the whole run (with StopRequests() as stop)."""

    def __init__(self):
        self.signal = None      # the first request's name, once one came
        self._noting = False
        self._interrupts = 0    # Ctrl-Cs while noting: the second one stops at once

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        self.signal = self.signal or name
        if self._noting:
            self._interrupts += signum == signal.SIGINT
            if self._interrupts < 2:
                # Only take note: raising here could land in any frame of the step, even one whose exception
                # Python ignores (a __del__, a callback); the loop looks at .signal between steps. (A Ctrl-C
                # in the launcher's terminal reaches a worker twice: as SIGINT, then forwarded as SIGTERM.)
                return
        raise Stopped(name)

    @contextlib.contextmanager
    def deferred(self):
        """Within: a request is noted (.signal), for the loop to act on between steps."""
        self._noting = True
        try:
            yield self
        finally:
            self._noting = False

    def check(self):
        """Stopped if a request came (one noted during the loop's last step, say)."""
        if self.signal:
            raise Stopped(self.signal)
