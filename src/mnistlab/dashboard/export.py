"""Headless dashboard output: `--save-png FILE` (at the end, or every K steps with `--save-every K`, the
name may hold `{step}`), `--save-video FILE.mp4` (a frame every K steps; imageio-ffmpeg's packaged ffmpeg,
checked before training starts, an animated GIF if it is broken) and the final PNG of `--display auto`.

The sinks' emit() runs on the training thread and only folds the event and, at the export cadence, queues
a snapshot (a few list copies). Drawing and encoding happen on one background thread per sink, which
overlaps with the training (torch releases the GIL inside its kernels).
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from ..events import Event, RunEnded
from .state import DashboardState

FRAMES_PER_RUN = 100   # default video length in frames (10,000 steps: one every 100 steps; 10 s at 10 fps)
VIDEO_FPS = 10


class Recorder:
    """Folds events; every `every` steps (and at the end) hands a snapshot to `write(snapshot, final)` on a
    background thread that owns a Dashboard on an Agg figure."""

    def __init__(self, data, every: int | None):
        self.state = DashboardState(data)
        self.every = every
        self.next_at = every or 0
        self.pending: int | None = None   # the step whose snapshot is due once all its events are in
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.dash = None

    def emit(self, event: Event) -> None:
        step = getattr(event, "step", None)
        # The loop emits every event of a step before any of the next one, so a snapshot is complete
        # (train, digits, bands, test of step s) when the first event of a later step arrives.
        if self.pending is not None and step is not None and step > self.pending:
            self._queue(False)
        self.state.update(event)
        if self.every and step is not None and step >= self.next_at and not isinstance(event, RunEnded):
            self.pending = step
            while self.next_at <= step:
                self.next_at += self.every
        if isinstance(event, RunEnded):
            self.pending = None
            self._queue(True)

    def _queue(self, final: bool) -> None:
        self.pending = None
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="mnistlab-export", daemon=True)
            self.thread.start()
        self.queue.put((self.state.snapshot(), final))

    def _work(self) -> None:
        from .render import Dashboard, new_figure
        self.dash = Dashboard(new_figure())
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.dash.draw(item[0])
                    self.write(item[0], item[1])
                except Exception as e:  # noqa: BLE001  (reported at close: training goes on)
                    self.error = e

    def write(self, snap: DashboardState, final: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        self.finish()
        if self.error is not None:
            print(f"mnistlab: error: {type(self).__name__}: {self.error}", file=sys.stderr)

    def finish(self) -> None:
        pass


class PngSink(Recorder):
    """`--save-png dash.png` (the end), `--save-png 'dash-{step}.png' --save-every 500` (a file per 500 steps)
    or `--save-png live.png --save-every 100` (one file, replaced every 100 steps)."""

    def __init__(self, data, pattern: str, every: int | None = None):
        super().__init__(data, every)
        self.pattern = pattern
        self.saved: list[Path] = []

    def write(self, snap, final):
        from ..runs import write_bytes_atomic
        path = Path(self.pattern.format(step=snap.step))
        if path not in self.saved or self.every:
            write_bytes_atomic(path, self.dash.png())
            if path not in self.saved:
                self.saved.append(path)

    def finish(self):
        if self.saved:
            print(f"dashboard saved: {self.saved[-1]}" + (f" (and {len(self.saved) - 1} more)" if len(self.saved) > 1 else ""),
                  file=sys.stderr)


class FinalPngSink(Recorder):
    """`--display auto` without a screen: the dashboard at the end, as RUN_DIR/dashboard.png."""

    def __init__(self, data, run):
        super().__init__(data, None)
        self.run = run

    def write(self, snap, final):
        if self.run is not None:
            path = self.run.write_file("dashboard.png", self.dash.png())
            print(f"dashboard saved: {path}", file=sys.stderr)


def check_ffmpeg() -> str | None:
    """Why the packaged ffmpeg cannot encode here, or None when it works (a ~50 ms `ffmpeg -version`)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return "imageio-ffmpeg is not installed (pip install 'mnistlab[dashboard]')"
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        p = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, timeout=20)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return f"ffmpeg does not run ({e})"
    if p.returncode != 0:
        return f"ffmpeg exited with status {p.returncode}: {p.stderr.decode(errors='replace').strip()[:200]}"
    return None


class VideoSink(Recorder):
    """The animation as a movie: one 1280x720 frame every `every` steps and one at the end. Written to a
    temp file beside the target and renamed at the end, so a killed run leaves no half-movie under its name."""

    def __init__(self, data, path: Path, every: int, gif: bool = False):
        super().__init__(data, every)
        self.path, self.gif = path, gif
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.writer = None
        self.frames = 0
        self.gif_frames: list = []

    def write(self, snap, final):
        rgb = self.dash.rgb()  # (720, 1280, 3)
        if self.gif:
            from PIL import Image
            small = rgb.reshape(rgb.shape[0] // 2, 2, rgb.shape[1] // 2, 2, 3).mean((1, 3)).astype(np.uint8)
            self.gif_frames.append(Image.fromarray(small).quantize(64))  # ~100 KB each, 640x360
        else:
            if self.writer is None:
                import imageio.v2 as imageio
                self.writer = imageio.get_writer(self.tmp, format="FFMPEG", mode="I", fps=VIDEO_FPS,
                                                 codec="libx264", quality=7, pixelformat="yuv420p",
                                                 macro_block_size=16)
            self.writer.append_data(rgb)
        self.frames += 1

    def finish(self):
        if self.gif and self.gif_frames:
            self.gif_frames[0].save(self.tmp, save_all=True, append_images=self.gif_frames[1:],
                                    duration=int(1000 / VIDEO_FPS), loop=0)
        elif self.writer is not None:
            self.writer.close()
        if self.frames:
            os.replace(self.tmp, self.path)
            print(f"video saved: {self.path} ({self.frames} frames at {VIDEO_FPS} fps)", file=sys.stderr)


def _check_pattern(pattern: str) -> str:
    try:
        pattern.format(step=0)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"--save-png {pattern!r}: the only field a file name may hold is {{step}} ({e})") from None
    return pattern


def _folder_for(path: Path, flag: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot create the folder {path.parent} ({e.strerror})") from None


def video_every(recipe, options: dict) -> int:
    """Steps between video frames: --save-every, else about FRAMES_PER_RUN frames per run, a multiple of
    the training-report cadence (frames between reports would repeat the same curves)."""
    if options.get("save_every"):
        return int(options["save_every"])
    unit = max(1, recipe.train_every)
    return max(unit, round(recipe.iterations / FRAMES_PER_RUN / unit) * unit)


def make_sinks(recipe=None, data=None, run=None, control=None, options=None, **_) -> list:
    """Sinks for --save-png / --save-video; raises ValueError (before training) on an unusable request."""
    options = options or {}
    sinks: list = []
    every = options.get("save_every")
    if every is not None and every < 1:
        raise ValueError(f"--save-every must be a positive number of steps, got {every}")
    if options.get("save_png"):
        pattern = _check_pattern(str(options["save_png"]))
        _folder_for(Path(pattern.format(step=0)), "--save-png")
        sinks.append(PngSink(data, pattern, every))
    if options.get("save_video"):
        path = Path(options["save_video"])
        _folder_for(path, "--save-video")
        gif = path.suffix.lower() == ".gif"
        if not gif:
            try:
                import imageio  # noqa: F401
            except ImportError:
                raise ValueError("--save-video needs imageio and imageio-ffmpeg: pip install 'mnistlab[dashboard]'") from None
            problem = check_ffmpeg()
            if problem:
                path, gif = path.with_suffix(".gif"), True
                print(f"mnistlab: warning: cannot write an MP4: {problem}; writing an animated GIF instead: {path}",
                      file=sys.stderr)
        sinks.append(VideoSink(data, path, video_every(recipe, options), gif=gif))
    return sinks
