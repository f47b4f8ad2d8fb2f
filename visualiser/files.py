"""Pictures into files, never half-written: the PNG (--save-png, Ctrl-S) and the movie (--save-movie), from
RGB frames [h, w, 3] uint8. A leaf: it knows nothing of panels or the run.

Each file is written under a temporary name beside its own and renamed once complete (an .mp4 is first read
back by ffmpeg); a write that fails (a full disk, a folder removed) or is abandoned leaves no file and raises
OSError, which the caller says in one line.
"""
import os

import numpy as np


def write_png(rgb, path, compress_level=6):
    """The picture into `path` as a PNG; OSError (after removing the temporary file) if it cannot be written."""
    from PIL import Image
    tmp = path + ".part"
    try:
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=compress_level)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def png_bytes(rgb, level=1):
    """The picture [h, w, 3] uint8 as PNG bytes, for a page: written here (no row filters, zlib at `level`),
    as zlib is the whole cost: ~11 ms and ~250 KB for the six panels at 1280 x 720, where Pillow's encoder
    at its fastest level takes 2.5 times as long (it tries every row filter) for a larger file
    (docs/display.md); and zlib lets go of the GIL while it compresses."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    h, w, _ = rgb.shape
    rows = np.zeros((h, 1 + 3 * w), np.uint8)          # each row: its filter (0, none), then its pixels
    rows[:, 1:] = rgb.reshape(h, 3 * w)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + chunk(b"IEND", b""))


class MovieWriter:
    """Frames of one size: .mp4 (H.264 through imageio-ffmpeg's bundled ffmpeg, no system ffmpeg) or .gif
    (Pillow, matplotlib's own dependency: 640 x 360, 64 colours), each shown 1/fps s, fps set when the file
    is closed. ImportError without imageio-ffmpeg for an .mp4; OSError from add() or close() when the file
    cannot be written."""
    PRESET = "veryfast"      # x264 beside the training: ~12 ms of CPU a frame at 1280 x 720, 40% less than
    FPS = 8                  # its default "medium" (docs/display.md); the rate the .mp4 is encoded at

    def __init__(self, path, size):
        self.path, self.size, self.frames = path, size, 0
        self.gif = path.lower().endswith(".gif")
        self.tmp = path + ".part" + (".gif" if self.gif else ".mp4")
        if self.gif:
            self.images = []
        else:
            import imageio_ffmpeg
            self.writer = imageio_ffmpeg.write_frames(
                self.tmp, size, fps=self.FPS, codec="libx264", quality=6, macro_block_size=8,
                ffmpeg_log_level="error", output_params=["-preset", self.PRESET])
            self.writer.send(None)

    def add(self, rgb):
        if self.gif:
            from PIL import Image
            self.images.append(Image.fromarray(np.ascontiguousarray(rgb[::2, ::2])).quantize(64))
        else:
            self.writer.send(np.ascontiguousarray(rgb))
        self.frames += 1

    def close(self, complete=True, fps=FPS):
        """Finish the file (complete, with at least one frame), each frame shown 1/fps s, and rename it into
        place; or abandon it. An .mp4 encoded at FPS is retimed without encoding it again (ffmpeg's setts
        filter scales every frame's time and duration, the stream copied)."""
        try:
            if self.gif:
                if complete and self.images:
                    self.images[0].save(self.tmp, save_all=True, append_images=self.images[1:], loop=0,
                                        duration=round(1000 / fps))
            else:
                self.writer.close()
                if complete and self.frames:
                    if abs(fps - self.FPS) > 1e-9:
                        self._retime(fps)
                    self._check_mp4()
            if complete and self.frames:
                os.replace(self.tmp, self.path)
        finally:
            for path in (self.tmp, self.tmp + ".mp4"):
                if os.path.exists(path):
                    os.remove(path)

    def _retime(self, fps):
        import subprocess
        import imageio_ffmpeg
        k = repr(self.FPS / fps)
        r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", self.tmp, "-c", "copy",
                            "-bsf:v", f"setts=pts=PTS*{k}:dts=DTS*{k}:duration=DURATION*{k}", self.tmp + ".mp4"],
                           capture_output=True, text=True)
        if r.returncode:
            raise OSError("ffmpeg could not retime the movie: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        os.replace(self.tmp + ".mp4", self.tmp)

    def _check_mp4(self):
        """ffmpeg exits quietly when it cannot write its last bytes (a full disk): read the file back."""
        import imageio_ffmpeg
        try:
            frames, _ = imageio_ffmpeg.count_frames_and_secs(self.tmp)
        except (RuntimeError, OSError) as e:
            raise OSError(f"ffmpeg wrote an unreadable file: {str(e).splitlines()[0]}") from None
        if frames != self.frames:
            raise OSError(f"ffmpeg wrote {frames} of {self.frames} frames")
