"""Where a step's start-up goes, from the command to its first training line, two commits side by side.

    python3 benchmarks/startup.py --base main                   # every step, --text and a window, 3 runs each
    python3 benchmarks/startup.py --base 5e3899b --steps 1.0 5.0 --modes text --runs 5
    python3 benchmarks/startup.py --cache cold                  # this tree alone, each run with an empty cache
    python3 benchmarks/startup.py --base main --steps 5.0 --modes text --runs 10 --to 0.99   # Enter to 99%

Each run is a whole process, as a learner types it (`python3 mnist_1.0_softmax.py --text`, with --iterations 1):
its start-up is the time from launching the command to the arrival of its first training line; in a window
(under an Xvfb display the benchmark starts itself) to the later of that line and the window's first picture.
The parts come from the marks the run records itself (TFVISU_STARTUP_LOG, visualiser/startup.py), against the
moment the benchmark launched it (one clock for every process: CLOCK_MONOTONIC): interpreter (to tensorflowvisu's
first line), imports (numpy, the flags, TensorFlow, mnistdata: to read_data_sets; TensorFlow's share alone where
tensorflowvisu imports it), data (read_data_sets), graph (the script's graph), device (MnistDataVis: the device
line, the display chosen), session (the Session made and initialised), window (to the loop's start: the figure,
in commits that made it before the training started; window.run now makes it during the first step), first step
(to the first training line) and drawn (the window's first picture after that line). A commit from before the log
gives its totals only. --to ACC times the learner's whole wait instead: each run goes on past its first line
(in full, without --iterations 1) to its first test line at or above ACC, the part after the first line called
training.

--base COMMIT (or --vs) checks COMMIT out with `git worktree add` into a temporary folder (removed at the end) and
runs the same steps there with the same Python, interleaved with this tree's (base, this, then this, base, ...),
after one untimed run of each in each mode (the page cache, the .pyc files, the data cache); --base-env gives the
base's runs an environment of their own (the packages that commit installed, say). The data cache
(mnistdata) is the benchmark's own temporary folder: `warm` (default) is filled by those first runs, the state of a
learner's second run and later; `cold` gives every run an empty one, a learner's first run.
Prints the machine line, a row per step, display and commit (median, min-max over the runs) and this tree's
start-up as a share of the base's; results: benchmarks/results/startup.json.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]
import course  # noqa: E402  (the steps, the printed lines' patterns)
import machine  # noqa: E402  (the machine line)
import xvfb  # noqa: E402  (a display of its own)

RESULTS = os.path.join(HERE, "results", "startup.json")
MODES = ("text", "window")
# (part, the mark it starts at, the mark it ends at): consecutive, so the parts add up to the start-up.
# "launch" is the benchmark's own clock; "line" the first training line's arrival, "end" the start-up's end.
PARTS = [("interpreter", "launch", "tensorflowvisu"), ("imports", "tensorflowvisu", "read"), ("data", "read", "data"),
         ("graph", "data", "graph"), ("device", "graph", "vis"), ("session", "vis", "session"),
         ("window", "session", "loop"), ("first step", "loop", "line"), ("training", "line", "reached"),
         ("drawn", "reached", "end")]
TIMEOUT = 300


def parse_args(argv=None):
    steps = list(course.steps())
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", "--vs", metavar="COMMIT", help="a commit to run side by side with this tree (e.g. main)")
    p.add_argument("--steps", nargs="+", default=steps, metavar="STEP",
                   help="steps (default all: " + " ".join(steps) + ")")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="--text, a window, or both (default)")
    p.add_argument("--runs", type=int, default=3, metavar="N",
                   help="timed runs of each step, mode and commit (default 3)")
    p.add_argument("--cache", choices=("warm", "cold"), default="warm",
                   help="the data cache: filled before the timed runs (default), or empty at every run")
    p.add_argument("--base-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for the base's runs alone, e.g. PYTHONPATH=DIR with DIR holding "
                        "the packages the base commit installed (pip install --target DIR ml_dtypes==0.7.0)")
    p.add_argument("--to", type=float, metavar="ACC",
                   help="time each run to its first test at or above ACC (0.5-1, e.g. 0.99: the wait from Enter to "
                        "99%%) instead of its first training line; the runs go on in full")
    p.add_argument("--out", default=RESULTS, help="results file (default benchmarks/results/startup.json)")
    args = p.parse_args(argv)
    if args.to is not None and not 0.5 <= args.to <= 1:
        p.error(f"--to {args.to:g}: give an accuracy between 0.5 and 1, e.g. 0.99 for 99%")
    bad = [e for e in args.base_env if "=" not in e or not e.split("=", 1)[0]]
    if bad:
        p.error(f"--base-env {bad[0]}: give NAME=VALUE, e.g. PYTHONPATH=/tmp/ml_dtypes-0.7")
    if args.base_env and not args.base:
        p.error("--base-env is for the base's runs: give --base COMMIT too")
    unknown = [s for s in args.steps if s not in steps]
    if unknown:
        p.error(f"unknown step {', '.join(unknown)} (steps: {' '.join(steps)})")
    if args.runs < 1:
        p.error(f"--runs must be at least 1, got {args.runs}")
    if "window" in args.modes and not shutil.which("Xvfb"):
        p.error("--modes window needs Xvfb (Debian/Ubuntu: apt install xvfb), or measure --modes text alone")
    if args.base:
        args.base_commit = git("rev-parse", "--verify", "--quiet", args.base + "^{commit}")
        if not args.base_commit:
            p.error(f"--base {args.base}: not a commit of {ROOT} (a branch, a tag or a hash: git log --oneline)")
    return args


def git(*args):
    r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


# -- the statistics: plain functions of the runs (tests/test_startup.py feeds them canned ones) -----------------
def parts(marks, launch, line, drawn=None, cpu=None, reached=None):
    """A run's marks {stage: perf_counter} -> {part: seconds} (None where a mark is missing) and its start-up
    {'total'}: launch to the first training line (to the later of it and the first picture in a window); with
    `cpu` ({stage: the process's CPU seconds}), 'cpu': the CPU seconds its start-up took (every thread's); with
    `reached` (--to: the arrival of its first test line at or above ACC) the total runs to it, 'training' after
    the first line."""
    done = line if reached is None else reached
    at = dict(marks, launch=launch, line=line, reached=done, end=max(done, drawn) if drawn is not None else done)
    out = {name: round(at[b] - at[a], 4) if a in at and b in at else None for name, a, b in PARTS}
    if drawn is None:
        out["drawn"] = None                        # no window
    if reached is None:
        out["training"] = None
    if "tensorflow" in marks and "flags" in marks:
        out["tensorflow"] = round(marks["tensorflow"] - marks["flags"], 4)
    out["total"] = round(at["end"] - launch, 4)
    ends = [c for c in ((cpu or {}).get("figures"), (cpu or {}).get("drawn") if drawn is not None else None) if c]
    out["cpu"] = round(max(ends), 4) if ends else None
    return out


def spread(values):
    """{median, min, max} of the values that are not None ({} when none is)."""
    values = [v for v in values if v is not None]
    if not values:
        return {}
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def summarise(runs):
    """One step, mode and commit's runs (each parts()' dict) -> {part: spread}."""
    names = dict.fromkeys(k for r in runs for k in r)
    return {name: spread([r.get(name) for r in runs]) for name in names}


def share(row, base_row):
    """This tree's median start-up as a share of the base's (0.5: halved), or None."""
    now, before = row.get("total", {}).get("median"), (base_row or {}).get("total", {}).get("median")
    return round(now / before, 3) if now and before else None


def table(rows, to=None):
    """rows [{step, mode, tree, parts: summarise(), share}] -> a markdown table (with `to`: the wait to that
    accuracy, and its training column)."""
    names = [n for n, _, _ in PARTS if n != "training" or to]
    waited = f"to the first test >= {to:.2%}" if to else "start-up"
    head = (f"| step | display | commit | {waited} s, median (min-max) | of the base | CPU s | "
            + " | ".join(n if n != "imports" else "imports (TensorFlow)" for n in names) + " |")
    lines = [head, "|---" * (6 + len(names)) + "|"]
    for r in rows:
        p = r["parts"]
        total = p.get("total") or {}
        cells = []
        for n in names:
            m = (p.get(n) or {}).get("median")
            text = "-" if m is None else f"{m:.2f}"
            if n == "imports" and (p.get("tensorflow") or {}).get("median") is not None:
                text += f" ({p['tensorflow']['median']:.2f})"
            cells.append(text)
        share_text = "" if r.get("share") is None else f"{r['share']:.0%}"
        cpu = (p.get("cpu") or {}).get("median")
        lines.append(f"| {r['step']} | {r['mode']} | {r['tree']} | {total['median']:.2f} ({total['min']:.2f}-"
                     f"{total['max']:.2f}) | {share_text} | {'-' if cpu is None else format(cpu, '.2f')} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- the runs ----------------------------------------------------------------------------------------------
def run_once(root, step, mode, env, display=None, to=None):
    """One process of `step` in `root`: {part: seconds} (parts()), or SystemExit with its error output. A tree
    from before the start-up log is ended at its first training line (its total alone); with `to`, every run at
    its first test line at or above it."""
    script = course.steps()[step]
    logs = os.path.exists(os.path.join(root, "visualiser", "startup.py"))
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "startup.json")
        env = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
        env.update(TFVISU_STARTUP_LOG=log, PYTHONUNBUFFERED="1", **({"DISPLAY": display} if display else {}))
        cmd = ([sys.executable, os.path.join(root, script)] + (["--iterations", "1"] if to is None else [])
               + (["--text"] if mode == "text" else []))
        err = tempfile.TemporaryFile("w+")
        line, first, reached = threading.Event(), [], []
        launch = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)

        def read():
            for text in proc.stdout:
                now, text = time.perf_counter(), text.rstrip("\n")
                if not first and course.TRAIN_LINE.match(text):
                    first.append(now)
                    line.set()
                test = course.TEST_LINE.match(text) if to is not None and not reached else None
                if test and float(test.group(3)) >= to:
                    reached.append(now)
            line.set()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.perf_counter() + TIMEOUT
        try:
            while not ((reached if to is not None else first) and (os.path.exists(log) or not logs)) \
                    and proc.poll() is None and time.perf_counter() < deadline:
                time.sleep(0.01)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)        # the start-up is over: end the run (cleanly, as Ctrl-C does)
            proc.wait(60)
        except BaseException:                          # timed out, or the benchmark itself stopped: no orphan
            proc.kill()
            proc.wait()
            if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise
        reader.join(10)
        if not first:
            err.seek(0)
            raise SystemExit(f"startup: {script} ({mode}) printed no training line:\n{err.read()[-3000:]}")
        if to is not None and not reached:
            raise SystemExit(f"startup: {script} ({mode}, {root}) never printed a test at or above {to:.2%}: "
                             "give --to a lower accuracy")
        record = json.load(open(log)) if os.path.exists(log) else {"marks": {}}
        marks = record["marks"]
        return parts(marks, launch, first[0], marks.get("drawn") if mode == "window" else None, record.get("cpu"),
                     reached[0] if reached else None)


def measure(args, trees, env, display):
    """{(step, mode, tree name): [parts]}, the runs interleaved: each round runs every step and mode in every
    tree, the trees' order alternating from round to round; one untimed run per tree and mode first."""
    for mode in args.modes:
        for name, root, extra in trees:
            run_once(root, args.steps[0], mode, dict(env(), **extra), display, args.to)
    runs, loads = {}, []
    for round_ in range(args.runs):
        for step in args.steps:
            for mode in args.modes:
                for name, root, extra in (trees if round_ % 2 == 0 else trees[::-1]):
                    loads.append(os.getloadavg()[0])
                    r = run_once(root, step, mode, dict(env(), **extra), display, args.to)
                    runs.setdefault((step, mode, name), []).append(dict(r, load=loads[-1]))
                    waited = f"to {args.to:.2%}" if args.to else "start-up"
                    print(f"{step} {mode:6} {name}: {waited} {r['total']:.2f} s, load {loads[-1]:.2f}", flush=True)
    return runs, loads


@contextlib.contextmanager
def worktree(commit):
    """COMMIT checked out in a temporary folder (a git worktree, removed at the end)."""
    folder = tempfile.mkdtemp(prefix="startup-base-")
    if git("worktree", "add", "--detach", folder, commit) is None:
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"startup: git worktree add {folder} {commit} failed")
    try:
        yield folder
    finally:
        git("worktree", "remove", "--force", folder)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit("startup: stopped (SIGTERM)"))  # cleans up too
    record = machine.describe()
    print(machine.line(record), flush=True)
    changed = git("status", "--porcelain", "--untracked-files=no")
    here = f"this tree ({git('rev-parse', '--short', 'HEAD')}{', changed' if changed else ''})"
    with contextlib.ExitStack() as stack:
        trees = [(here, ROOT, {})]
        if args.base:
            extra = dict(e.split("=", 1) for e in args.base_env)
            name = f"base ({args.base_commit[:7]}" + "".join(f", {e}" for e in args.base_env) + ")"
            trees.insert(0, (name, stack.enter_context(worktree(args.base_commit)), extra))
        try:
            display = stack.enter_context(xvfb.display("1600x900x24")) if "window" in args.modes else None
        except xvfb.XvfbError as e:
            raise SystemExit(f"startup: {e}") from None
        cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="startup-cache-"))

        def env():
            folder = tempfile.mkdtemp(dir=cache) if args.cache == "cold" else cache
            return dict(os.environ, MNISTDATA_CACHE_DIR=folder)
        runs, loads = measure(args, trees, env, display)
    rows = []
    for step in args.steps:
        for mode in args.modes:
            base_row = None
            for name, _, _ in trees:
                row = {"step": step, "mode": mode, "tree": name, "parts": summarise(runs[step, mode, name])}
                if args.base and name != trees[0][0]:
                    row["share"] = share(row["parts"], base_row)
                base_row = base_row or row["parts"]
                rows.append(row)
    print("\n" + machine.line(record, {"load_after": max(loads), "runnable": None, "steal": None}))
    print(f"load average before the runs: {min(loads):.2f}-{max(loads):.2f}; data cache: {args.cache}\n")
    print(table(rows, args.to))
    halved = [r for r in rows if r.get("share") is not None]
    shares = f"{min(r['share'] for r in halved):.0%}-{max(r['share'] for r in halved):.0%}" if halved else ""
    if halved and args.to:
        print(f"\nthe wait to {args.to:.2%} as a share of the base's: {shares}")
    elif halved:
        met = sum(r["share"] <= 0.5 for r in halved)
        print(f"\nat most half of the base's start-up: {met} of {len(halved)} (step, display) pairs; shares {shares}")
    save(args, argv, record, trees, rows, runs, loads)


def save(args, argv, record, trees, rows, runs, loads):
    results = json.load(open(args.out)) if os.path.exists(args.out) else {"measurements": []}
    results["measurements"].append({
        "date": record["date"], "machine": record, "command": "python3 benchmarks/startup.py " + " ".join(argv),
        "trees": [name for name, _, _ in trees], "base": getattr(args, "base_commit", None), "cache": args.cache,
        "to": args.to, "load": [min(loads), max(loads)], "rows": rows,
        "runs": [{"step": s, "mode": m, "tree": t, "runs": r} for (s, m, t), r in runs.items()]})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".part"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
