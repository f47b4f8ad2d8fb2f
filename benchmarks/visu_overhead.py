"""How live the panels are and what they cost the training: each step run in --text and in a real window
(or the --web page, or with the PNG or the movie), the same iterations, rounds interleaved so that the
machine's drift hits every mode alike. Read from the console's lines, each stamped with time.monotonic() as
it arrives (the child prints unbuffered), and from the frames the display records (TFVISU_FRAME_LOG: the same
clock, system-wide on Linux).

    python3 benchmarks/visu_overhead.py                      # 1.0 2.2 3.1 5.0: window against --text, 3 rounds
    python3 benchmarks/visu_overhead.py --busy 2             # the same beside two busy loops
    python3 benchmarks/visu_overhead.py --modes text web     # the --web page, in a headless Chromium open before
    python3 benchmarks/visu_overhead.py --step 3.1 --modes keys --rounds 1    # a key press -> its frame
    python3 benchmarks/visu_overhead.py --step 4.2 --iterations 500 --modes text window png movie --rounds 1
    python3 benchmarks/visu_overhead.py --modes text inside   # the window with the look-inside view (--view inside)

Per run: the training seconds the script prints; for a window or a page, the frames of new data per second
while it trains (and the share of panel updates shown), the longest wait for new data, the lag from the last
iteration's console line to the frame that shows it, the frames' CPU. Targets (issue 32, on an idle 2-core
machine): >= 4 frames of new data a second (or every update where they come more rarely), the last
iteration on screen within 0.5 s, window/text <= 1.10; beside two busy loops >= 2 a second; the page >= 2;
a key drawn within 0.1 s. Without $DISPLAY the script starts its own Xvfb. Results in benchmarks/results/.
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ladder  # (script names)
import course  # (the steps and the patterns of their lines)
import machine  # (the machine line, printed first and stored with the result)
import xvfb  # (a display of its own)

MODES = ("text", "window", "png", "movie", "web", "keys", "inside")     # inside: a window with --view inside
STEPS = {"1.0": 2000, "2.2": 1000, "3.1": 600, "5.0": None}     # None: the step's own length (5.0: 330)
KEYS = ["3", "0", "7", "0", "9", "0", "8", "Escape", "6", "0"]      # each a layout, and back to all six
FIGURE = re.compile(r"^(\d+): ")                                     # a line of the step's figures


def own_display(stack):
    """$DISPLAY, or a display of the benchmark's own that ends with `stack`."""
    if os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"]
    if not shutil.which("xdotool"):
        raise SystemExit("visu_overhead: no $DISPLAY and no xdotool to drive a window in one (apt install xvfb "
                         "xdotool)")
    try:
        return stack.enter_context(xvfb.display())
    except xvfb.XvfbError as e:
        raise SystemExit(f"visu_overhead: no $DISPLAY, and {e}") from None


class Run:
    """One step in one mode: its console lines [(monotonic, line)], its frames, its training seconds."""

    def __init__(self, step, mode, iterations, display, folder):
        self.step, self.mode, self.lines, self.frames = step, mode, [], []
        script = ladder.script_for(step)
        self.log = os.path.join(folder, f"frames-{mode}-{time.monotonic_ns()}.jsonl")
        cmd = [sys.executable, os.path.join(ladder.ROOT, script)] + (["--iterations", str(iterations)]
                                                                      if iterations else [])
        cmd += {"text": ["--text"], "window": [], "keys": [], "web": ["--web", "0"], "inside": ["--view", "inside"],
                "png": ["--text", "--save-png", os.path.join(folder, "p.png")],
                "movie": ["--text", "--save-movie", os.path.join(folder, "m.mp4")]}[mode]
        self.env = dict(os.environ, DISPLAY=display, PYTHONUNBUFFERED="1", TFVISU_FRAME_LOG=self.log)
        self.env.pop("MPLBACKEND", None)
        self.name = script[:-3]
        if mode == "web":                  # the browser open before the run, as a learner's is
            from playwright.sync_api import sync_playwright
            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                           args=["--no-sandbox", "--disable-gpu"])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern, timeout=900):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            for t, line in list(self.lines):
                if re.search(pattern, line):
                    return t, line
            time.sleep(0.05)
        return None

    def finish(self, keys=False):
        """Let the run end as a learner would: close the window, leave the page; then read what it left."""
        if self.mode in ("window", "keys", "inside"):
            if keys:
                self.press_keys()
            if self.wait_for("close the window to end"):
                time.sleep(1.0)
                subprocess.run(["xdotool", "search", "--name", self.name, "key", "q"], env=self.env,
                               capture_output=True)
        elif self.mode == "web":
            self.watch_page()
        try:
            self.proc.wait(900)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(10)
        text = "\n".join(line for _, line in self.lines)
        trained = course.TRAINED_LINE.search(text)
        if self.proc.returncode or not trained:
            raise SystemExit(f"visu_overhead: {self.step} {self.mode} run failed:\n{text[-2000:]}")
        self.training_s, self.iterations = float(trained.group(2)), int(trained.group(1).replace(",", ""))
        if os.path.exists(self.log):
            self.frames = [json.loads(line) for line in open(self.log)]
        return self

    def press_keys(self):
        """Once it trains: the keys, one every 0.8 s, sent to the window by xdotool."""
        if not self.wait_for(FIGURE.pattern):
            return
        time.sleep(2.0)
        wid = subprocess.run(["xdotool", "search", "--sync", "--name", self.name], env=self.env,
                             capture_output=True, text=True, timeout=30).stdout.split()[0]
        for key in KEYS:
            subprocess.run(["xdotool", "key", "--window", wid, key], env=self.env, capture_output=True)
            time.sleep(0.8)

    def watch_page(self):
        """The headless Chromium (open since before the run) watching the page from the moment its address is
        printed to the end of the training."""
        try:
            found = self.wait_for(r"the panels are live at (http://\S+)")
            if found:
                page = self.browser.new_page(viewport={"width": 1300, "height": 900})
                page.goto(re.search(r"(http://\S+)", found[1]).group(1))
                self.wait_for("the page stays up")
                time.sleep(1.0)
        finally:
            self.browser.close()
            self.playwright.stop()
        self.proc.send_signal(2)                       # Ctrl-C: the page's run ends with its summary


def liveliness(run, target):
    """The frames of `target` that showed new data while the step trained (from its first printed figures to
    its last ones): their rate, the share of the panel updates published after the first frame that got a
    frame, the longest wait between them, the lag from the last figures printed to the frame of the run's
    last state, the frames' CPU."""
    figures = [(t, int(FIGURE.match(line).group(1))) for t, line in run.lines if FIGURE.match(line)]
    frames = sorted((f for f in run.frames if f.get("target") == target), key=lambda f: f["t"])
    if not figures or not frames:
        return {}
    start, end = figures[0][0], figures[-1][0]
    new, seen = [], 0
    for f in frames:
        if f["updates"] > seen:
            new.append(f)
            seen = f["updates"]
    during = [f for f in new if start <= f["t"] <= end]
    times = [start] + [f["t"] for f in during] + [end]
    first, final = new[0]["updates"], seen
    shown_last = next(f["t"] for f in frames if f["updates"] == final)
    cpu = [f["cpu"] for f in frames if start <= f["t"] <= end]
    kinds = {}
    for f in frames:
        kinds[f["kind"] or "none"] = kinds.get(f["kind"] or "none", 0) + 1
    return {"training_wall_s": round(end - start, 2), "frames_new_data": len(during),
            "new_data_per_s": round(len(during) / max(end - start, 1e-9), 2),
            "updates_per_s": round(final / max(end - start, 1e-9), 2),
            "updates_shown": round(len({f["updates"] for f in new}) / (final - first + 1), 3),
            "longest_gap_s": round(max(b - a for a, b in zip(times, times[1:])), 2),
            "lag_s": round(shown_last - end, 3),
            "frame_cpu_ms_median": round(1000 * statistics.median(cpu), 1) if cpu else None,
            "frames_cpu_share": round(sum(cpu) / max(end - start, 1e-9), 3), "kinds": kinds}


def key_latencies(run):
    """Each key's frame: from the key's arrival in the window to the frame drawn with it, in seconds."""
    return [{"key": f["key"], "kind": f["kind"], "latency_s": round(f["t"] - f["key_t"], 4)}
            for f in run.frames if f.get("key") and f.get("target") == "window"]


def summarise(runs, step):
    """Medians over the rounds, per mode, and the ratio of training seconds to --text's."""
    out = {}
    for mode, rs in runs.items():
        s = {"training_s": [r.training_s for r in rs]}
        s["median_training_s"] = statistics.median(s["training_s"])
        target = {"window": "window", "keys": "window", "web": "web", "inside": "window"}.get(mode)
        if target:
            lives = [liveliness(r, target) for r in rs]
            s["rounds"] = lives
            for k in ("new_data_per_s", "updates_shown", "longest_gap_s", "lag_s", "frame_cpu_ms_median",
                      "frames_cpu_share"):
                values = [x[k] for x in lives if x.get(k) is not None]
                s[k] = round(statistics.median(values), 3) if values else None
        if mode == "keys":
            s["keys"] = [k for r in rs for k in key_latencies(r)]
            s["key_latency_max_s"] = max((k["latency_s"] for k in s["keys"]), default=None)
        out[mode] = s
    if "text" in out:
        for mode, s in out.items():
            s["training_ratio"] = round(s["median_training_s"] / out["text"]["median_training_s"], 3)
    return out


def verdict(summary, busy):
    """The issue's targets against this step's figures, in one line."""
    said = []
    w = summary.get("window")
    if w and w.get("new_data_per_s") is not None:
        live = w["new_data_per_s"] >= (2 if busy else 4) or w["updates_shown"] >= 0.99   # or every update
        said.append(f"window {w['new_data_per_s']} frames of new data/s ({w['updates_shown']:.0%} of the updates, "
                    f"longest wait {w['longest_gap_s']} s) {'met' if live else 'NOT MET'}")
        if w.get("lag_s") is not None:
            said.append(f"last iteration shown {w['lag_s']} s after its line "
                        f"{'met' if w['lag_s'] <= 0.5 else 'NOT MET'}")
        if w.get("training_ratio"):
            said.append(f"window/text {w['training_ratio']} {'met' if w['training_ratio'] <= 1.10 else 'NOT MET'}")
    v = summary.get("inside")
    if v and v.get("training_ratio"):
        said.append(f"window with the look-inside view/text {v['training_ratio']} "
                    f"{'met' if v['training_ratio'] <= 1.10 else 'NOT MET'} ({v['new_data_per_s']} frames of new "
                    f"data/s, frames {v['frame_cpu_ms_median']} ms CPU, {v['frames_cpu_share']:.1%} of a core)")
    p = summary.get("web")
    if p and p.get("new_data_per_s") is not None:
        live = p["new_data_per_s"] >= 2 or p["updates_shown"] >= 0.99
        said.append(f"page {p['new_data_per_s']} frames of new data/s ({p['updates_shown']:.0%} of the updates) "
                    f"{'met' if live else 'NOT MET'}")
    k = summary.get("keys")
    if k and k.get("key_latency_max_s") is not None:
        said.append(f"keys drawn within {k['key_latency_max_s']} s "
                    f"{'met' if k['key_latency_max_s'] <= 0.1 else 'NOT MET'}")
    return "; ".join(said)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--step", action="append", choices=list(course.steps()),
                   help="a step to run (repeat for several; default 1.0 2.2 3.1 5.0)")
    p.add_argument("--iterations", type=int, help="iterations of every step (default: 1.0 2000, 2.2 1000, "
                                                  "3.1 600, 5.0 its own 330)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--modes", nargs="+", default=["text", "window"], choices=MODES)
    p.add_argument("--busy", type=int, default=0, metavar="N", help="run beside N busy loops (one per core: 2)")
    p.add_argument("--out", help="results file (default benchmarks/results/visu_overhead.json; with --busy, "
                                 "the web page or the keys: visu_overhead_busy.json, _web.json, _keys.json)")
    args = p.parse_args(argv)
    kind = "_busy" if args.busy else "_web" if "web" in args.modes else "_keys" if "keys" in args.modes else \
        "_inside" if "inside" in args.modes else ""
    out = args.out or os.path.join(ladder.HERE, "results", f"visu_overhead{kind}.json")
    record = machine.describe()
    print(machine.line(record), flush=True)
    previous = json.load(open(out)) if os.path.exists(out) else None
    steps = args.step or list(STEPS)
    gui = set(args.modes) & {"window", "keys", "inside"}
    stack = contextlib.ExitStack()
    display = own_display(stack) if gui else os.environ.get("DISPLAY", "")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    results = {}
    try:
        with stack, tempfile.TemporaryDirectory() as folder:
            for step in steps:
                iterations = args.iterations or STEPS.get(step)
                runs = {m: [] for m in args.modes}
                for r in range(args.rounds):
                    for mode in args.modes:
                        load = os.getloadavg()[0]
                        run = Run(step, mode, iterations, display, folder).finish(keys=mode == "keys")
                        runs[mode].append(run)
                        life = liveliness(run, "web" if mode == "web" else "window") if mode in (
                            "window", "keys", "web", "inside") else {}
                        print(f"{step} round {r + 1} {mode}: training {run.training_s:.2f} s (load {load:.1f})"
                              + (f", {life['new_data_per_s']} frames of new data/s, {life['updates_shown']:.0%} of "
                                 f"{life['updates_per_s']} updates/s shown, longest wait {life['longest_gap_s']} s, "
                                 f"lag {life['lag_s']} s, frames {life['frame_cpu_ms_median']} ms CPU "
                                 f"({life['frames_cpu_share']:.1%} of a core) {life['kinds']}" if life else ""),
                              flush=True)
                summary = summarise(runs, step)
                summary["iterations"] = runs[args.modes[0]][0].iterations
                results[step] = summary
                for mode, s in summary.items():
                    if isinstance(s, dict):
                        print(f"{step} {mode:7s} median training {s['median_training_s']:.2f} s"
                              + (f" (x{s['training_ratio']})" if s.get("training_ratio") else ""))
                print(f"{step}: {verdict(summary, args.busy)}", flush=True)
    finally:
        for b in busy:
            b.kill()
    print(against_previous(results, record, previous))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".part", "w") as f:
        json.dump({"steps": results, "rounds": args.rounds, "modes": args.modes, "busy": args.busy,
                   "machine": record, "load_after": os.getloadavg()[0]}, f, indent=1)
    os.replace(out + ".part", out)


def against_previous(results, record, previous):
    """One line: this run's ratios to --text against the previous results file's, for the steps both ran at
    the same length on the same machine; otherwise what differs (a ratio from another machine is not compared)."""
    if not previous:
        return "previous: no results file before this run"
    if not machine.same(previous.get("machine") or {}, record):
        return f"previous: another machine ({machine.short(previous.get('machine') or {})}): not compared"
    pairs = []
    for step, summary in results.items():
        before = (previous.get("steps") or {}).get(step) or {}
        if before.get("iterations") != summary.get("iterations"):
            continue
        for mode, s in summary.items():
            if isinstance(s, dict) and mode != "text" and s.get("training_ratio") and mode in before:
                pairs.append(f"{step} {mode} x{before[mode].get('training_ratio')} -> x{s['training_ratio']}")
    return "previous, same machine: " + (", ".join(pairs) or "no step and mode in common")


if __name__ == "__main__":
    main()
