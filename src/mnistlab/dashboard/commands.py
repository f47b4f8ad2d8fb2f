"""`mnistlab show`, `mnistlab compare`, and the dashboard's options of `mnistlab train`.

The CLI imports this module while it builds its parser, so nothing heavy is imported at module level.
Library functions for other commands (the course): compare_figure(run_dirs), save_compare_png(run_dirs, path).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dashboard (any --display)")
    g.add_argument("--save-png", metavar="FILE",
                   help="save the dashboard as PNG at the end; with --save-every K every K steps "
                        "(a name like dash-{step}.png keeps one file per save)")
    g.add_argument("--save-every", type=int, metavar="K", help="steps between --save-png images / --save-video frames")
    g.add_argument("--save-video", metavar="FILE.mp4",
                   help="record the dashboard as a movie (packaged ffmpeg; an animated GIF if it cannot run)")
    g.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard scalars, histograms and digit images")
    g.add_argument("--refresh-fps", type=float, metavar="FPS",
                   help="window redraws per second at most (default 4, at most 10)")
    g.add_argument("--close-at-end", action="store_true",
                   help="close the window when training ends (default: it stays until you close it)")


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "show":
        p.add_argument("run_dir", metavar="RUN_DIR", help="a run dir, finished or still training")
        p.add_argument("--save-png", metavar="FILE", help="write the dashboard to FILE instead of opening a window")
        p.add_argument("--layout", default="all", help="all, or 1..9 as the window's keys (default all)")
    else:
        p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run dirs to overlay")
        p.add_argument("--save-png", metavar="FILE", help="write the comparison to FILE instead of opening a window")


def run(args) -> int:
    return show(args) if args.command == "show" else compare(args)


def _error(message: str, status: int = 2) -> int:
    print(f"mnistlab: error: {message}", file=sys.stderr)
    return status


def _report_skipped(skipped: list[str], where) -> None:
    for line in skipped:
        print(f"mnistlab: warning: {where}: skipped {line}", file=sys.stderr)


# -- show ----------------------------------------------------------------------------------------------------
def show(args) -> int:
    from ..runs import RunDir, write_bytes_atomic
    from .render import Dashboard
    from .state import DashboardState
    try:
        Dashboard.layout_key(args.layout)
    except ValueError as e:
        return _error(str(e))
    run = RunDir.open(args.run_dir)  # RunError -> `mnistlab: error: ... is not a run dir`, exit 1
    state = DashboardState.from_run(run.path)
    _report_skipped(state.skipped, run / "metrics.jsonl")
    if args.save_png:
        path = Path(args.save_png)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, _png(state, args.layout))
        print(f"dashboard saved: {path}")
        return 0
    from .live import Window, display_problem
    problem = display_problem()
    if problem:
        path = run.write_file("dashboard.png", _png(state, args.layout))
        print(f"no window ({problem}); dashboard saved: {path}")
        return 0
    window = Window(state, run=run, poll=_follower(run, state))
    window._open()
    window.dash.set_layout(args.layout)
    window.run()
    return 0


def _png(state, layout) -> bytes:
    from .render import render_png
    return render_png(state, layout=layout)


def _follower(run, state):
    """For a run still training: re-read metrics.jsonl when it grows (a replay is a pure fold, so the new
    state is just the file folded again; a few MB at most). Returns the new state, or None if unchanged."""
    from .state import DashboardState
    path, seen = run / "metrics.jsonl", {"size": _size(run / "metrics.jsonl")}

    def poll():
        if time.monotonic() - seen.get("t", 0.0) < 1.0:  # a re-read at most once a second
            return None
        seen["t"] = time.monotonic()
        size = _size(path)
        if size == seen["size"]:
            return None
        seen["size"] = size
        return DashboardState.from_run(run.path, data=state.data, following=True)
    return poll


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


# -- compare -------------------------------------------------------------------------------------------------
def _load_curves(run_dirs) -> list[tuple[str, dict]]:
    """(label, test curves) of each valid run dir; what is skipped is said on stderr."""
    from ..runs import RunDir, RunError
    from .state import DashboardState
    out = []
    for d in run_dirs:
        try:
            run = RunDir.open(d)
        except RunError as e:
            print(f"mnistlab: warning: skipped {e}", file=sys.stderr)
            continue
        state = DashboardState(None)
        events, skipped = run.events()
        _report_skipped(skipped, run / "metrics.jsonl")
        for e in events:
            state.update(e)
        if not state.test["step"]:
            print(f"mnistlab: warning: skipped {run.path}: no test evaluation yet", file=sys.stderr)
            continue
        recipe = state.recipe or run.config.get("recipe", {})
        label = f"{recipe.get('step') or ''} {recipe.get('name', '?')}".strip()
        out.append((label, state.test, run.path.name))
    labels = [label for label, _, _ in out]
    # Two runs of one recipe: tell them apart by their folder name.
    return [(label if labels.count(label) == 1 else f"{label} ({name})", test) for label, test, name in out]


def compare_figure(run_dirs, fig=None):
    """`fig` (default: a new Agg Figure) with the test accuracy and test loss of each run against the step, legend by recipe.
    Raises ValueError when none of `run_dirs` has a test curve."""
    from matplotlib.ticker import PercentFormatter
    from .render import new_figure
    curves = _load_curves(run_dirs)
    if not curves:
        raise ValueError("none of the given folders is a run dir with a test evaluation")
    fig = fig if fig is not None else new_figure((1280, 560))
    acc, loss = fig.subplots(1, 2)
    for label, test in curves:
        (line,) = acc.plot(test["step"], test["accuracy"], lw=1.6, label=f"{label}: max {max(test['accuracy']):.2%}")
        loss.plot(test["step"], test["loss"], lw=1.6, color=line.get_color(), label=label)
    best = max(max(t["accuracy"]) for _, t in curves)
    low = min(min(t["accuracy"][len(t["accuracy"]) // 5:] or t["accuracy"]) for _, t in curves)
    acc.set_ylim(max(0.0, min(low, best - 0.01) - 0.002), min(1.0, best + (best - low) * 0.08 + 0.002))
    acc.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    acc.set_title("test accuracy", fontsize=11)
    loss.set_title("test cross-entropy loss", fontsize=11)
    top = max(sorted(t["loss"])[len(t["loss"]) * 9 // 10] for _, t in curves) * 1.3
    loss.set_ylim(0, top)
    for ax in (acc, loss):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
    acc.legend(fontsize=9, loc="lower right")
    loss.legend(fontsize=9, loc="upper right")
    fig.subplots_adjust(left=0.06, right=0.98, top=0.92, bottom=0.1, wspace=0.15)
    return fig


def save_compare_png(run_dirs, path) -> Path:
    import io
    from ..runs import write_bytes_atomic
    fig = compare_figure(run_dirs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, buf.getvalue())


def compare(args) -> int:
    try:
        if args.save_png:
            print(f"comparison saved: {save_compare_png(args.run_dirs, args.save_png)}")
            return 0
        from .live import display_problem
        problem = display_problem()
        if problem:
            print(f"no window ({problem}); comparison saved: {save_compare_png(args.run_dirs, 'compare.png')}")
            return 0
        import matplotlib
        matplotlib.use("TkAgg", force=True)
        import matplotlib.pyplot as plt
        compare_figure(args.run_dirs, plt.figure(figsize=(12.8, 5.6), dpi=100))
    except ValueError as e:
        return _error(str(e), 1)
    plt.show()
    return 0
