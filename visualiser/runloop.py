"""The run loop: which iterations are tested and shown, pause and stop from the GUI, Ctrl-C and SIGTERM.

A step's training_step(i, update_test_data, update_train_data) is the course's: the loop only decides when it
is called and with what. Ctrl-C and SIGTERM become one exception, Interrupted (a KeyboardInterrupt), from the
moment the flags are read: whenever it comes (TensorFlow's import, the graph, the loop, the final PNG), the
run ends with one line and its summary, never a traceback or a half-written file.
"""
import atexit
import contextlib
import os
import re
import signal
import sys
import threading
import time

import mnistdata

_FAILED = []              # what could not be written: the process exits 1 once the script has ended
# the run's summary line, printed by Loop.summary(); course.parse_run() reads it with this pattern
TRAINED_LINE = re.compile(r"^trained ([\d,]+) iterations? in ([\d.]+) s \(([\d.]+) s per 100 iterations", re.M)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM; str() names which."""


class UserError(Exception):
    """Something the user can put right (a missing package, a busy port): str() is the one line to show."""


SAID_IN_ONE_LINE = (UserError, mnistdata.MnistDataError)    # a step ends with their message alone, exit 1


def schedule(iterations, train_freq, test_freq, one_test_at_start=True, more_tests_at_start=False):
    """i -> (test, train): the course's schedule (a test every test_freq, the training figures every
    train_freq; more_tests_at_start: tests every train_freq before the first test_freq), and the last
    iteration always both, so that a run's final figures are printed and drawn."""
    last = iterations - 1

    def at(i):
        test = i % test_freq == 0 and (i > 0 or one_test_at_start)
        if more_tests_at_start and i < test_freq:
            test = i % train_freq == 0
        return test or i == last, i % train_freq == 0 or i == last
    return at


def _raise(signum, frame):
    raise Interrupted("Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name)


def _hook(kind, value, tb, previous=sys.excepthook):
    if issubclass(kind, SAID_IN_ONE_LINE):
        print(value, file=sys.stderr, flush=True)      # Python then exits with status 1
        return
    if issubclass(kind, KeyboardInterrupt):
        name = str(value) or "Ctrl-C"
        print(f"\ninterrupted ({name}) during start-up, before the first iteration: nothing was trained",
              flush=True)
        return
    previous(kind, value, tb)


def start_run():
    """From the flags on: SIGINT and SIGTERM raise Interrupted in the main thread, one left uncaught (during
    the start-up, before the loop catches it) prints one line instead of a traceback, so does a UserError or
    bad data (exit status 1), and a file that could not be written makes the exit status 1 once the script
    has printed its last line."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, _raise)
    if sys.excepthook is not _hook:
        sys.excepthook = _hook
        atexit.register(_exit_status)     # registered first, so it runs last (atexit runs in reverse order)


def failed(message):
    """A file the user asked for could not be written: say it in one line; the run goes on to its summary."""
    print(f"tensorflowvisu: {message}", flush=True)
    _FAILED.append(message)


def _exit_status():
    if _FAILED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


@contextlib.contextmanager
def outputs_guard(loop):
    """Ctrl-C or SIGTERM while the movie or the PNG is written: that file is abandoned (the writer removes
    its temporary file), one line says so, and the run still ends with its summary."""
    try:
        yield
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({str(e) or 'Ctrl-C'}) while writing the outputs: that file was not saved",
              flush=True)
        loop.stop.set()


class Loop:
    """The training loop: pausable and stoppable from the GUI thread, and safe to interrupt."""

    def __init__(self, compute_step, schedule, iterations):
        self.compute_step, self.schedule, self.iterations = compute_step, schedule, iterations
        self.running = threading.Event()
        self.running.set()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.error = None
        self.stopped_at = None            # the iteration a stop or an interrupt ended the run at
        self.completed = 0                # iterations run to their end
        self.seconds = 0.0
        # cleared by the display while it draws a picture someone waits for (the first, after the first step,
        # whose figures it shows; a key's): the next step waits for it, uncounted in the training's seconds
        self.proceed = threading.Event()
        self.proceed.set()
        self.held_s = 0.0

    def run(self):
        start = time.perf_counter()
        i = 0
        try:
            for i in range(self.iterations):
                while not self.running.wait(0.1):       # paused: the GUI's SPACE clears `running`
                    if self.stop.is_set():
                        break
                if i and not self.proceed.is_set():
                    held = time.perf_counter()
                    while not self.proceed.wait(0.05) and not self.stop.is_set():
                        pass
                    self.held_s += time.perf_counter() - held
                if self.stop.is_set():
                    self.stopped_at = i
                    break
                test, train = self.schedule(i)
                self.compute_step(i, test, train)
                self.completed = i + 1
        except KeyboardInterrupt as e:
            self.interrupted(e, i)
        except BaseException as e:   # the GUI thread re-raises it once the window is gone
            self.error = e
        finally:
            self.seconds = time.perf_counter() - start - self.held_s
            self.done.set()

    def interrupted(self, e, i=None):
        """Ctrl-C or SIGTERM: the run ends at iteration i (None: wherever it is), said once."""
        if self.stopped_at is None and self.completed < self.iterations:
            self.stopped_at = self.completed if i is None else i
            print(f"\ninterrupted ({str(e) or 'Ctrl-C'}) at iteration {self.stopped_at}", flush=True)
        self.stop.set()
        self.running.set()
        self.proceed.set()

    def summary(self):
        done = self.completed
        line = (f"trained {done:,} iteration{'s' if done != 1 else ''} in {self.seconds:.2f} s "
                f"({self.seconds / max(done, 1) * 100:.2f} s per 100 iterations, tests included)")
        if self.stopped_at is not None:
            line += f"; stopped early, at iteration {self.stopped_at} of {self.iterations}"
        return line
