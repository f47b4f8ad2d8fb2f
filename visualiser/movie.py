"""--save-movie: the run as the window shows it. A frame is drawn at each panel update (every 2nd, 3rd ...
in a long run, so that the movie holds at most MOVIE_FPS x MOVIE_MAX_S frames) while the display's budget
allows it, on the display's thread (visualiser.display.Display.tick), like the window's frames; the run's
last state is always the last frame. Once the run is over the frames are timed: MOVIE_FPS a second, or fewer
so that the movie lasts MOVIE_MIN_S (the constants are options', whose --help states them).

Each frame costs its drawing (a cheap frame: visualiser.render) and its encoding, ENCODE_S of ffmpeg's CPU,
counted in the display's budget: a fast step (1.0 updates its panels 40 times a second) gets fewer frames
than updates, spread over the run as the window's are.
"""
import math
import time

from . import display, files, runloop
from .options import MOVIE_FPS, MOVIE_MAX_S, MOVIE_MIN_S

ENCODE_S = 0.012          # ffmpeg's CPU for one 1280 x 720 frame, x264 "veryfast" (measured: docs/display.md)


class Movie:
    """The movie of `vis`'s run: `schedule` and `iterations` (the run loop's) say how many updates it has."""

    def __init__(self, vis, path, schedule, iterations):
        updates = max(1, sum(1 for i in range(iterations) if any(schedule(i))))
        self.every = math.ceil(updates / (MOVIE_FPS * MOVIE_MAX_S))       # updates a frame at most
        self.vis, self.path, self.length, self.log = vis, path, iterations, None
        self.screen = display.agg_screen(vis)
        try:
            self.writer = files.MovieWriter(path, self.screen.fig.canvas.get_width_height())
        except ImportError:
            raise runloop.UserError("tensorflowvisu: --save-movie with .mp4 needs imageio-ffmpeg "
                                    "(pip install imageio-ffmpeg), or give a .gif name") from None
        self.slot, self.drawn, self.broken, self.fps = -1, None, None, MOVIE_FPS

    def due(self):
        """An update (every `every`-th) has been published since the last frame."""
        p = self.vis.published
        return p is not None and not self.broken and (max(p[6], 1) - 1) // self.every > self.slot

    def frame(self, final=False):
        """Draw the newest state and send it to the file; returns its CPU seconds, the encoding's counted."""
        p = self.vis.published
        if p is None or self.broken or (final and p is self.drawn):
            return 0.0
        start, cpu = time.monotonic(), time.thread_time()
        snap = display.Snapshot(self.vis, self.length)
        kind, _ = self.screen.draw(snap, f"iteration {snap.iteration:,}")
        try:
            self.writer.add(self.screen.rgb())
        except OSError as e:               # ffmpeg could not write (a full disk): the training goes on without it
            self.broken = str(e).split("\n")[0]
        self.drawn, self.slot = p, (max(snap.updates, 1) - 1) // self.every
        cost = time.thread_time() - cpu + (0 if self.writer.gif else ENCODE_S)
        if self.log:
            self.log.write(target="movie", kind=kind, iteration=snap.iteration, updates=snap.updates,
                           cpu=round(cost, 4), wall=round(time.monotonic() - start, 4))
        return cost

    def close(self, complete=True):
        """Finish the file, the last state its last frame, timed to last MOVIE_MIN_S at least, and say so in
        one line (or that it could not be written: then the run's exit status is 1); complete=False
        abandons it."""
        try:
            if complete and not self.broken:
                self.frame(final=True)
            if self.broken:
                raise OSError(self.broken)
            frames = self.writer.frames
            self.fps = min(MOVIE_FPS, max(frames, 1) / MOVIE_MIN_S)
            self.writer.close(complete, self.fps)
        except OSError as e:
            self.writer.close(complete=False)
            if complete:
                runloop.failed(f"could not write the movie {self.path} ({e.strerror or e}): nothing saved")
            return
        if complete and self.writer.frames:
            frames = self.writer.frames
            print(f"saved the movie ({frames} frame{'s' * (frames != 1)}, {frames / self.fps:.1f} s) to {self.path}",
                  flush=True)


def run(vis, loop, movie):
    """--text with --save-movie: the training in a worker thread, the movie's frames drawn on this one."""
    display.Display(vis, loop, None, "movie", movie).run()
