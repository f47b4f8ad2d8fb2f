"""Where a frame's CPU goes: the display core (visualiser.display, the code every front end runs) replaying a
run of step 3.1's shape on an off-screen 1280 x 720 figure, no training beside it, so that the figures are
CPU seconds of the frames alone (time.thread_time()).

    python3 benchmarks/frame_cost.py                 # 2,000 iterations, a frame at every training update
    python3 benchmarks/frame_cost.py --every 100     # ... at every test only

The data: real MNIST test digits for the two mosaics (mistakes as a trained network makes them), curves and
bands shaped as 3.1's. Printed: the machine line; each kind of frame (full, restage, blit, cached) with its
count and median CPU; a blit frame's split (the panels' update, of which the digit mosaics, the drawing of the
changed artists); the PNG a page gets (encode time and size at two zlib levels); a key's frame for every
layout, first visit and return. The window adds its Tk blit (~3-5 ms, docs/display.md), not counted here.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("MPLBACKEND", "Agg")
import numpy as np
import machine  # (the machine line, printed first)
import mnistdata
import tensorflowvisu
from visualiser import display, files, panels, render


def timed(cls, name, into):
    """Wrap cls.name so that its CPU time is added to into[name] (a list, one entry per call)."""
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            into.setdefault(name, []).append(time.thread_time() - start)
    setattr(cls, name, wrapper)


def fetched(mnist, rng, n, lines, accuracy):
    """What tf_format_mnist_images returns for n test digits at `accuracy`: mistakes first."""
    pick = rng.choice(10000, n, replace=False)
    labels = mnist.test.labels[pick].argmax(1)
    computed = np.where(rng.random(n) < accuracy, labels, (labels + 1) % 10)
    order = np.argsort(labels == computed, kind="stable")
    return {"digits": (mnist.test.images[pick[order], :, :, 0] * 255).astype(np.uint8), "labels": labels[order],
            "computed": computed[order], "shown": n, "lines": lines, "per_cell": 1, "tested": 10000}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--every", type=int, default=20, help="iterations between frames (default 20: 3.1's updates)")
    args = p.parse_args(argv)
    print(machine.line(machine.describe()), flush=True)
    tensorflowvisu._FLAGS = tensorflowvisu.flags(["--text"])
    vis = tensorflowvisu.MnistDataVis(title="mnist_3.1_convolutional_bigger_dropout")
    mnist, rng = mnistdata.read_data_sets(), np.random.default_rng(0)
    split, kinds = {}, {}
    for cls, name in ((panels.Panels, "update"), (panels.Panels, "_digits"), (render.Canvas, "_draw")):
        timed(cls, name, split)
    screen = display.agg_screen(vis)
    weights, biases = rng.normal(0, 0.1, 20000), np.full(300, 0.1)
    for i in range(args.iterations):
        progress = 1 - np.exp(-i / 400)
        weights += rng.normal(0, 0.002, weights.size)
        biases += rng.normal(0, 0.001, biases.size)
        if i % 20 == 0:
            vis.append_training_curves_data(i, min(1, 0.1 + 0.89 * progress + rng.normal(0, 0.01)),
                                            230 * (1 - progress) + 5 + rng.normal(0, 2))
            vis.append_data_histograms(i, weights, biases)
            vis.update_image1(fetched(mnist, rng, 100, 10, 0.1 + 0.89 * progress))
        if i % 100 == 0:
            vis.append_test_curves_data(i, 0.1 + 0.89 * progress, 230 * (1 - progress) + 3)
            vis.update_image2(fetched(mnist, rng, 1000, 25, 0.1 + 0.89 * progress))
        vis.publish(i)
        if i % args.every == 0:
            for v in split.values():
                v.clear()
            start = time.thread_time()
            kind, _ = screen.draw(display.Snapshot(vis, args.iterations), f"iteration {i:,}")
            cost = time.thread_time() - start
            kinds.setdefault(kind, []).append(cost)
            if kind == "blit":
                for name, v in split.items():
                    kinds.setdefault("blit " + name, []).append(sum(v))
    ms = lambda v: f"{1000 * statistics.median(v):.1f} ms"  # noqa: E731
    print(f"frames, {args.iterations:,} iterations, one every {args.every} (load {os.getloadavg()[0]:.1f}):")
    for kind in ("full", "restage", "blit", "cached"):
        if kind in kinds:
            print(f"  {kind:8s} {len(kinds[kind]):4d} frames, median {ms(kinds[kind])}")
    print(f"  a blit frame: the panels' update {ms(kinds['blit update'])} (of which the digit mosaics "
          f"{ms(kinds['blit _digits'])}), drawing the changed artists {ms(kinds['blit _draw'])}")
    rgb = screen.rgb()
    import io
    from PIL import Image

    def pillow(rgb):
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
        return out.getvalue()
    for name, encode in (("files.png_bytes (zlib level 1, no row filters)", files.png_bytes),
                         ("Pillow's PNG at compress_level=1", pillow)):
        start = time.thread_time()
        for _ in range(5):
            data = encode(rgb)
        print(f"  the page's PNG, {name}: {(time.thread_time() - start) / 5 * 1000:.1f} ms, {len(data) / 1000:.0f} KB")
    snap = display.Snapshot(vis, args.iterations)
    said = []
    for key in ["3", "0", "1", "2", "4", "5", "6", "7", "8", "9", "0", "3", "7", "0"]:
        screen.key(key)
        start = time.thread_time()
        kind, _ = screen.draw(snap, "key")
        said.append(f"{key} {kind} {1000 * (time.thread_time() - start):.0f}")
    print("  a key's frame, ms (first visits render the layout, returns restore it): " + ", ".join(said))
    print(f"load {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
