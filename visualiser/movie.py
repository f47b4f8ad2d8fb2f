"""--save-movie: the run as the window would show it. Each panel update of the run is a slot of the movie,
MOVIE_FPS a second (slower in a short run, so that it lasts MOVIE_MIN_S; every 2nd, 3rd ... update in a long
one, so that it lasts at most MOVIE_MAX_S; the constants are options', whose --help states them). A slot shows the newest state drawn by then: frames are drawn
within the display's budget, on its thread (visualiser.display.Display.tick), and a slot that the budget
skipped holds the frame before, as the window would have. The run's last state is always the last frame.
"""
import math
import time

from . import display, files, runloop
from .options import MOVIE_FPS, MOVIE_MAX_S, MOVIE_MIN_S


class Movie:
    """The movie of `vis`'s run: `schedule` and `iterations` (the run loop's) say how many updates it has."""

    def __init__(self, vis, path, schedule, iterations):
        updates = max(1, sum(1 for i in range(iterations) if any(schedule(i))))
        self.every = math.ceil(updates / (MOVIE_FPS * MOVIE_MAX_S))
        slots = math.ceil(updates / self.every)
        self.fps = min(MOVIE_FPS, max(1.0, slots / MOVIE_MIN_S))
        self.vis, self.path, self.length, self.log = vis, path, iterations, None
        self.screen = display.agg_screen(vis)
        try:
            self.writer = files.MovieWriter(path, self.screen.fig.canvas.get_width_height(), self.fps)
        except ImportError:
            raise runloop.UserError("tensorflowvisu: --save-movie with .mp4 needs imageio-ffmpeg "
                                    "(pip install imageio-ffmpeg), or give a .gif name") from None
        self.slot, self.pending, self.drawn, self.broken = -1, None, None, None   # pending: the frame not yet written

    def due(self):
        """A slot has passed since the last frame."""
        p = self.vis.published
        return p is not None and not self.broken and (max(p[6], 1) - 1) // self.every > self.slot

    def frame(self, final=False):
        """Draw the newest state; returns its CPU seconds. A frame is written once the next one is drawn,
        held for the slots between them (the first one for the slots before it too): so the movie has a
        frame for every slot, and the last one, drawn when the movie is closed, is the run's last state."""
        p = self.vis.published
        if p is None or self.broken or (final and p is self.drawn):
            return 0.0
        start, cpu = time.monotonic(), time.thread_time()
        snap = display.Snapshot(self.vis, self.length)
        kind, _ = self.screen.draw(snap, f"iteration {snap.iteration:,}")
        slot, rgb = max((max(snap.updates, 1) - 1) // self.every, self.slot), self.screen.rgb()
        try:
            if self.pending is not None and slot > self.slot:
                self.writer.add(self.pending, slot - self.slot)
            elif self.pending is None:
                self.writer.add(rgb, slot)                    # the slots before the first frame
        except OSError as e:               # ffmpeg could not write (a full disk): the training goes on without it
            self.broken = str(e).split("\n")[0]
        self.pending, self.drawn, self.slot = rgb, p, slot
        cost = time.thread_time() - cpu
        if self.log:
            self.log.write(target="movie", kind=kind, iteration=snap.iteration, updates=snap.updates, slot=slot,
                           cpu=round(cost, 4), wall=round(time.monotonic() - start, 4))
        return cost

    def close(self, complete=True):
        """Finish the file, the last state its last frame, and say so in one line (or that it could not be
        written: then the run's exit status is 1); complete=False abandons it."""
        try:
            if complete and not self.broken:
                self.frame(final=True)
                if self.pending is not None:
                    self.writer.add(self.pending)
            if self.broken:
                raise OSError(self.broken)
            self.writer.close(complete)
        except OSError as e:
            self.writer.close(complete=False)
            if complete:
                runloop.failed(f"could not write the movie {self.path} ({e.strerror or e}): nothing saved")
            return
        if complete and self.writer.frames:
            print(f"saved the movie ({self.writer.frames} frames, {self.writer.frames / self.fps:.1f} s) to "
                  f"{self.path}", flush=True)


def run(vis, loop, movie):
    """--text with --save-movie: the training in a worker thread, the movie's frames drawn on this one."""
    display.Display(vis, loop, None, "movie", movie).run()
