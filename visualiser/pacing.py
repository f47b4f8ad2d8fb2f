"""When the display draws a frame, and what its frames cost: the budget (Pacer) and the frame log
(TFVISU_FRAME_LOG). A leaf: standard library only."""
import json
import os
import time

FRAME_S = 0.15            # at most a frame every 0.15 s (6.7 a second): new data 4+ times a second with margin
STATUS_S = 0.5            # a frame that would only move the iteration on the top line: at most every 0.5 s
BUDGET = 0.10             # the display's CPU within 10% of one core (frames, PNGs, the movie's encoding, Tk)
BURST = 0.15             # CPU seconds a burst may spend at once: a restage and a frame, a few keys
VIEW_BURST = 0.05         # the look-inside view's: one of its frames, so that it keeps to its share from the start
VIEW_BUDGET = 0.07        # and its share: its frames hold the interpreter's lock for ~75% of their CPU, the panels'
                          # ~55% (py-spy --gil), and the training waits on that lock: the view's 7% holds it about as
                          # long as the panels' 10% (docs/inside.md)
DEBT = 0.1                # and at most this much overdrawn: after a costly full draw, frames wait 1 s at most


class Pacer:
    """When the next frame may be drawn: at most one every `every` seconds, and only while the frames' CPU
    stays within `budget` of the wall time, counted as a bucket of CPU seconds refilled at `budget` per second
    and holding at most `burst`. A costly draw (the window's first, a new window size) may overdraw it by
    `debt` at most: frames then wait until it is refilled, never longer than debt / budget."""

    def __init__(self, budget=BUDGET, every=FRAME_S, burst=BURST, debt=DEBT, now=None):
        self.budget, self.every, self.burst, self.debt = budget, every, burst, debt
        self.tokens, self.at = burst, time.monotonic() if now is None else now
        self.held = burst                    # (what hold() kept)
        self.next = self.at

    def hold(self, now):
        """Keep what the bucket holds now until resume(): the time between does not count (TFVISU_DRAW_BLOCKS)."""
        self._refill(now)
        self.held = self.tokens

    def resume(self, now):
        self.tokens, self.at = self.held, now

    def _refill(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.budget)
        self.at = max(self.at, now)

    def affordable(self, now):
        self._refill(now)
        return self.tokens > 0

    def full(self, now):
        """Little spent lately: the bucket holds 90% of its burst at least (a window's own events take a little
        at every turn of its loop)."""
        self._refill(now)
        return self.tokens >= 0.9 * self.burst

    def ready(self, now):
        return now >= self.next and self.affordable(now)

    def wait(self, now):
        """Seconds until ready (0 if it is)."""
        self._refill(now)
        return max(self.next - now, -self.tokens / self.budget if self.tokens <= 0 else 0.0, 0.0)

    def spent(self, now, cpu, paced=True):
        self._refill(now)
        self.tokens = max(self.tokens - cpu, -self.debt)
        if paced:
            self.next = now + self.every


class Blocks:
    """TFVISU_DRAW_BLOCKS=S (benchmarks/draw_cost.py): the frames drawn only in every other S seconds from
    the training's start, so that one run times its training with frames and without, side by side; each
    switch is a line of the frame log. The budget is held while frames are off (their bucket does not fill),
    so that an "on" block spends what any S seconds of an ordinary run would. Unset: always on."""

    def __init__(self, pacer, log, start=None):
        """From `start` (the training's, time.monotonic()); without one, always on."""
        blocks = os.environ.get("TFVISU_DRAW_BLOCKS") if start is not None else None
        self.seconds, self.pacer, self.log, self.start = float(blocks) if blocks else None, pacer, log, start
        self.on = True
        if self.seconds:
            log.write(block="on")

    def drawing(self, now):
        if self.seconds is None:
            return True
        on = int((now - self.start) / self.seconds) % 2 == 0
        if on != self.on:
            self.on = on
            (self.pacer.resume if on else self.pacer.hold)(now)
            self.log.write(block="on" if on else "off")
        return on


class FrameLog:
    """TFVISU_FRAME_LOG=FILE: a JSON line per frame drawn, appended (one file may collect several runs)."""

    def __init__(self, target):
        path = os.environ.get("TFVISU_FRAME_LOG")
        self.target, self.file = target, open(path, "a", buffering=1) if path else None

    def write(self, **fields):
        """One frame's line; `fields` may name another target (the movie's frames, in the display's log)."""
        if self.file:
            line = {"t": round(time.monotonic(), 4), "target": self.target, "pid": os.getpid()} | fields
            self.file.write(json.dumps(line) + "\n")

    def close(self):
        if self.file:
            self.file.close()
