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


def png_bytes(rgb, compress_level=1):
    """The picture as PNG bytes. Level 1: at 1280 x 720 ~15 ms and ~150 KB for the six panels (level 6
    compresses ~25% more for several times the time: measured in docs/display.md)."""
    import io
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


class MovieWriter:
    """Frames of one size at `fps` frames a second: .mp4 (H.264 through imageio-ffmpeg's bundled ffmpeg, no
    system ffmpeg) or .gif (Pillow, matplotlib's own dependency: 640 x 360, 64 colours). add(rgb, times) puts a
    frame `times` times in a row (a picture held while the run had nothing new). ImportError without
    imageio-ffmpeg for an .mp4; OSError from add() or close() when the file cannot be written."""
    PRESET = "veryfast"      # x264's encoding runs beside the training: ~4x less CPU than its default "medium"

    def __init__(self, path, size, fps):
        self.path, self.size, self.fps, self.frames = path, size, fps, 0
        self.gif = path.lower().endswith(".gif")
        self.tmp = path + ".part" + (".gif" if self.gif else ".mp4")
        if self.gif:
            self.images = []           # (picture, times)
        else:
            import imageio_ffmpeg
            self.writer = imageio_ffmpeg.write_frames(
                self.tmp, size, fps=fps, codec="libx264", quality=6, macro_block_size=8, ffmpeg_log_level="error",
                output_params=["-preset", self.PRESET])
            self.writer.send(None)

    def add(self, rgb, times=1):
        if times < 1:
            return
        if self.gif:
            from PIL import Image
            self.images.append((Image.fromarray(np.ascontiguousarray(rgb[::2, ::2])).quantize(64), times))
        else:
            frame = np.ascontiguousarray(rgb)
            for _ in range(times):
                self.writer.send(frame)
        self.frames += times

    def close(self, complete=True):
        """Finish the file (complete, with at least one frame) and rename it into place, or abandon it."""
        try:
            if self.gif:
                if complete and self.images:
                    first, *rest = [image for image, _ in self.images]
                    first.save(self.tmp, save_all=True, append_images=rest, loop=0,
                               duration=[round(1000 * times / self.fps) for _, times in self.images])
            else:
                self.writer.close()
                if complete and self.frames:
                    self._check_mp4()
            if complete and self.frames:
                os.replace(self.tmp, self.path)
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
