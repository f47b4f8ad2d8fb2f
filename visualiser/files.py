"""The panels into files: the PNG (--save-png, Ctrl-S) and the movie (--save-movie), never half-written.

Each file is written under a temporary name beside its own and renamed once complete (and, for an .mp4,
read back by ffmpeg); a write that fails (a full disk, a folder removed) or is interrupted leaves no file,
says so in one line, and the run still ends with its summary (then exits 1: see loop.failed).
"""
import os
import threading
import time

import numpy as np

from . import flags, loop, panels


def save_png(vis, path, status="", figure=None):
    """The panels as they stand, into `path`; an OSError (after removing the temporary file) if it cannot."""
    figure = figure or panels.agg_figure(vis)
    figure.draw(status or f"max test accuracy {vis.get_max_test_accuracy():.2%}")
    tmp = path + ".part"
    try:
        figure.fig.savefig(tmp, format="png", dpi=panels.DPI)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_final_png(vis, path):
    """--save-png at the end of the run: a failure is one line and the exit status, not a traceback."""
    try:
        save_png(vis, path)
    except OSError as e:
        loop.failed(f"could not write the PNG {path} ({e.strerror or e}): nothing saved")
        return
    print(f"saved the panels to {path}", flush=True)


class MovieWriter:
    """A frame per call of frame() (the loop calls it at every test evaluation): the first
    flags.MOVIE_FRAMES_KEPT always, then only while rendering stays within flags.MOVIE_BUDGET of the wall
    time; the last state is always the last frame. A frame costs ~0.2 s of CPU. .mp4 through imageio-ffmpeg's
    bundled ffmpeg (no system ffmpeg), or .gif through Pillow (matplotlib's own dependency)."""

    def __init__(self, vis, path):
        self.path, self.vis, self.figure, self.frames, self.skipped = path, vis, panels.agg_figure(vis), 0, 0
        self.kept, self.budget = flags.MOVIE_FRAMES_KEPT, flags.MOVIE_BUDGET
        self.start, self.spent, self.drawn, self.broken = time.perf_counter(), 0.0, None, None
        self.gif = path.lower().endswith(".gif")
        self.tmp = path + ".part" + (".gif" if self.gif else ".mp4")
        if self.gif:
            self.images = []
        else:
            try:
                import imageio_ffmpeg
            except ImportError:
                raise loop.UserError("tensorflowvisu: --save-movie with .mp4 needs imageio-ffmpeg "
                                 "(pip install imageio-ffmpeg), or give a .gif name") from None
            w, h = self.figure.fig.canvas.get_width_height()
            self.writer = imageio_ffmpeg.write_frames(self.tmp, (w, h), fps=8, codec="libx264", quality=6,
                                                      macro_block_size=8, ffmpeg_log_level="error")
            self.writer.send(None)

    def frame(self, force=False):
        if self.broken:
            return
        begin = time.perf_counter()
        if not force and self.frames >= self.kept and self.spent > self.budget * (begin - self.start):
            self.skipped += 1
            return
        self.drawn = self.vis.version
        self.figure.draw()
        canvas = self.figure.fig.canvas
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        try:
            if self.gif:
                from PIL import Image
                self.images.append(Image.fromarray(rgb[::2, ::2]).quantize(64))   # 640 x 360, 64 colours
            else:
                self.writer.send(np.ascontiguousarray(rgb))
        except OSError as e:          # ffmpeg could not write (a full disk): the training goes on without it
            self.broken = str(e).split("\n")[0]
        self.frames += 1
        self.spent += time.perf_counter() - begin

    def close(self, complete=True):
        """Finish the file (complete) or abandon it; say what happened in one line."""
        try:
            if complete and not self.broken and self.frames and self.drawn != self.vis.version:
                self.frame(force=True)                  # the end of the run is always in the movie
            if self.gif:
                if complete and self.images and not self.broken:
                    self.images[0].save(self.tmp, save_all=True, append_images=self.images[1:], duration=125,
                                        loop=0)
            else:
                self.writer.close()
                if complete and not self.broken and self.frames:
                    self._check_mp4()
            if complete and self.broken:
                loop.failed(f"could not write the movie {self.path} ({self.broken}): nothing saved")
            elif complete and self.frames:
                os.replace(self.tmp, self.path)
                budget = (f"; {self.skipped} test evaluations skipped past the first {self.kept} to keep drawing "
                          f"within {self.budget:.0%} of the time" if self.skipped else "")
                print(f"saved the movie ({self.frames} frames{budget}) to {self.path}", flush=True)
        except OSError as e:
            loop.failed(f"could not write the movie {self.path} ({e.strerror or e}): nothing saved")
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)

    def _check_mp4(self):
        """ffmpeg exits quietly when it cannot write its last bytes (a full disk): read the file back."""
        import imageio_ffmpeg
        try:
            frames, _ = imageio_ffmpeg.count_frames_and_secs(self.tmp)
        except (RuntimeError, OSError) as e:
            raise OSError(f"ffmpeg wrote an unreadable file: {str(e).splitlines()[0]}") from None
        if frames != self.frames:
            raise OSError(f"ffmpeg wrote {frames} of {self.frames} frames")


class GuiFrames:
    """Movie frames drawn on the GUI thread while the training loop waits for them (matplotlib is not
    thread-safe): the loop's movie becomes this object, and the GUI thread's tick calls serve_frame()."""

    def take_movie(self, loop):
        self.frame_wanted, self.frame_done, self.movie = threading.Event(), threading.Event(), None
        if loop.movie is not None:
            self.movie, loop.movie = loop.movie, self

    def frame(self):                 # called by the loop (worker thread) at every test evaluation
        self.frame_done.clear()
        self.frame_wanted.set()
        while not self.frame_done.wait(0.1) and not self.loop.stop.is_set():
            pass

    def serve_frame(self):           # on the GUI thread
        if self.frame_wanted.is_set():
            self.frame_wanted.clear()
            try:
                self.movie.frame()
            finally:
                self.frame_done.set()
