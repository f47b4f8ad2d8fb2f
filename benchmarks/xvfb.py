"""An X display of one's own, for a real window on a machine without a screen (the benchmarks that open
windows, and the tests'): Xvfb at the first free display number, which Xvfb itself reports (-displayfd: a
number chosen here could be another run's, whose end would take our windows with it), at a desktop's 96 dpi
(at Xvfb's own ~92, Tk scales the figure a few seconds in, and every panel is drawn again).
"""
import contextlib
import os
import subprocess


class XvfbError(Exception):
    """Xvfb is missing or did not start."""


@contextlib.contextmanager
def display(size="1400x900x24", dpi=96):
    """Within: the name (":N") of a display of its own; the server ends with the block."""
    read, write = os.pipe()
    try:
        server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-dpi", str(dpi),
                                   "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise XvfbError("no Xvfb (Debian/Ubuntu: apt install xvfb)") from None
    finally:
        os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    try:
        if not number:
            raise XvfbError("Xvfb did not start (try `Xvfb :99` by hand to see why)")
        yield ":" + number
    finally:
        server.terminate()
        server.wait()
