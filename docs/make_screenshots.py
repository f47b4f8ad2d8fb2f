"""Regenerate the README's dashboard screenshots: trains recipe 3.1 briefly and saves the dashboard (and its
help overlay) into docs/, as 256-colour PNGs to keep them small.

    OMP_NUM_THREADS=1 PYTHONPATH=src python docs/make_screenshots.py [--iterations 1500]
"""
from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=1500)
    args = ap.parse_args()
    from PIL import Image
    from mnistlab.dashboard.render import render_png
    from mnistlab.dashboard.state import DashboardState
    from mnistlab.session import train
    run_dir = Path(tempfile.mkdtemp(prefix="mnistlab-screenshot-")) / "3.1"
    result = train("3.1", iterations=args.iterations, display="none", run_dir=run_dir)
    state = DashboardState.from_run(result.run_dir)
    for name, options in (("dashboard.png", {}), ("dashboard-help.png", {"help": True})):
        img = Image.open(io.BytesIO(render_png(state, **options))).convert("RGB")
        img.quantize(256, method=Image.Quantize.MEDIANCUT).save(DOCS / name, optimize=True)
        print(f"{DOCS / name}: {(DOCS / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
