"""Make docs/inside.md's pictures: real windows on a virtual X display (Xvfb), key I pressed as a learner would,
the window grabbed once the training has finished. Needs Xvfb and xdotool.

    python3 docs/make_inside_screenshots.py            # 1.0 (its full 10,001), 2.2, 3.1, 4.2 -> docs/images/
    python3 docs/make_inside_screenshots.py 3.1        # one of them

Each run's last test line is printed beside its picture: the confusion matrix's diagonal reads as it.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
RUNS = {"1.0": ("mnist_1.0_softmax.py", None), "2.2": ("mnist_2.2_five_layers_relu_lrdecay_dropout.py", 2001),
        "3.1": ("mnist_3.1_convolutional_bigger_dropout.py", 501), "4.2": ("mnist_4.2_batchnorm_convolutional.py", 201)}
DISPLAY = ":87"


def shoot(step, out):
    script, iterations = RUNS[step]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DISPLAY"] = DISPLAY
    args = [sys.executable, os.path.join(ROOT, script)] + (["--iterations", str(iterations)] if iterations else [])
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
        try:
            wid = subprocess.run(["xdotool", "search", "--sync", "--name", script[:-3]], env=env, capture_output=True,
                                 text=True, timeout=300).stdout.split()[0]
            time.sleep(3)                                   # the window's first draw
            subprocess.run(["xdotool", "key", "--window", wid, "i"], env=env, check=True)
            while True:
                log.seek(0)
                text = log.read()
                if "training finished" in text or proc.poll() is not None:
                    break
                time.sleep(1)
            time.sleep(3)                                   # the last frame
            g = dict(line.split("=") for line in subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid],
                                                                env=env, capture_output=True, text=True).stdout.split())
            x, y, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
            from PIL import Image, ImageGrab
            shot = ImageGrab.grab(xdisplay=DISPLAY).crop((x, y, x + w, y + h - 50))   # less the toolbar
            # 256 colours (the figure has fewer); an octree keeps the few green pixels, median cut loses them
            shot.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
            subprocess.run(["xdotool", "key", "--window", wid, "q"], env=env)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
    tests = re.findall(r"^\d+: \*+ epoch.*test accuracy:\s*([\d.]+)", text, re.M)
    print(f"{step}: {out} ({os.path.getsize(out) // 1024} KB), last test accuracy {tests[-1] if tests else '?'}",
          flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("steps", nargs="*", help=f"of {', '.join(RUNS)} (default: all four)")
    steps = p.parse_args(argv).steps or list(RUNS)
    for step in set(steps) - set(RUNS):
        p.error(f"no step {step!r}: choose among {', '.join(RUNS)}")
    os.makedirs(os.path.join(DOCS, "images"), exist_ok=True)
    server = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        for step in steps:
            shoot(step, os.path.join(DOCS, "images", f"inside-{step}.png"))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
