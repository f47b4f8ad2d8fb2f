"""benchmarks/speed.py's processes: one step's run (or two at once), read line by line as it prints, and the
busy loops of --load. Each run returns ladder.summarise's figures plus its times to each level, the window
of its training on the parent's clock, the load average before and after, the threads runnable during it
(procs_running, sampled twice a second) and the share of CPU the host stole meanwhile."""
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import course
import ladder
import machine
from speedstats import PEER, overlap, time_to_levels, wall_to_levels

HERE = os.path.dirname(os.path.abspath(__file__))


def command(step, seed, threads=None, iterations=None):
    if step == PEER:
        cmd = [sys.executable, os.path.join(HERE, "keras_convnet.py")]
    else:
        cmd = [sys.executable, os.path.join(ladder.ROOT, ladder.script_for(step)), "--text"]
        cmd += ["--iterations", str(iterations)] if iterations else []
    return cmd + ["--seed", str(seed)] + (["--threads", str(threads)] if threads else [])


class Child:
    """One step's process, its stdout read by a thread that notes when each line arrived; with `until`,
    SIGINT at the first test line at or above it (the scripts end cleanly on Ctrl-C, with their lines)."""

    def __init__(self, step, seed, threads=None, until=None, iterations=None, env=None):
        env = {k: v for k, v in (env or os.environ).items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env["PYTHONUNBUFFERED"] = "1"
        self.step, self.seed, self.until = step, seed, until
        self.err = tempfile.TemporaryFile("w+")
        self.lines, self.tests, self.arrivals, self.trained_at = [], [], [], None
        self.training = threading.Event()          # set at the first training line: start-up is over
        self.training_from = None
        self.load_before, self.start = os.getloadavg()[0], time.perf_counter()
        # SIGINT back to its default in the child: a benchmark started in the background (nohup, `&`) inherits
        # it ignored, and --until's Ctrl-C would then be lost
        self.proc = subprocess.Popen(command(step, seed, threads, iterations), stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, env=env, bufsize=1,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            now = time.perf_counter()
            self.lines.append(line)
            m = course.TEST_LINE.match(line.rstrip("\n"))
            if m:
                self.tests.append((int(m.group(1)), float(m.group(3))))
                self.arrivals.append(now)
                if self.until and float(m.group(3)) >= self.until and self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGINT)
            elif course.TRAINED_LINE.match(line):
                self.trained_at = now
            elif not self.training.is_set() and course.TRAIN_LINE.match(line.rstrip("\n")):
                self.training_from = now
                self.training.set()
        self.training.set()                        # ended (or failed) before training: nobody waits forever

    def stop(self):
        """End a companion run (its figures are not wanted)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join()

    def finish(self, runnable):
        self.reader.join()
        self.proc.wait()
        wall = time.perf_counter() - self.start
        name = "keras_convnet.py" if self.step == PEER else ladder.script_for(self.step)
        if self.proc.returncode or self.trained_at is None:
            self.err.seek(0)
            raise SystemExit(f"speed: {name} (seed {self.seed}) failed:\n{self.err.read()[-3000:]}")
        row = ladder.summarise(self.step, name, "".join(self.lines), wall, self.load_before)
        levels = time_to_levels(self.tests, self.arrivals, self.trained_at, row["training_s"])
        trained = course.parse_run("".join(self.lines))["trained"]
        enter = wall_to_levels(self.tests, self.arrivals, self.start)
        row.update(seed=self.seed, stopped_at_level=self.until, trained_iterations=trained[0],
                   times={f"{k:g}": v for k, v in levels.items()},
                   wall_times={f"{k:g}": v for k, v in enter.items()},
                   window=(round(self.trained_at - row["training_s"], 2), round(self.trained_at, 2)),
                   load_after=round(os.getloadavg()[0], 2), runnable=runnable)
        return row


def run_together(specs):
    """Start every Child(*spec) at once, sample the runnable threads until all have ended -> their rows."""
    usage, ticks = resource.getrusage(resource.RUSAGE_CHILDREN), machine.cpu_ticks()
    children = [Child(*spec[:-1], **spec[-1]) for spec in specs]
    samples = []
    while any(c.proc.poll() is None for c in children):
        samples.append(machine.runnable())
        time.sleep(0.5)
    during = statistics.median([s for s in samples if s is not None] or [0])
    rows = [c.finish(during) for c in children]
    steal = machine.steal_share(ticks, machine.cpu_ticks())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 1)   # all of them
    for r in rows:
        r.update(steal=steal, cpu_s=round(cpu_s / len(rows), 1))
    return rows


def run(step, seed, threads=None, until=None, iterations=None, env=None):
    """One process; returns ladder.summarise's figures plus 'times' {level: s}, the seed and the window."""
    row, = run_together([(step, seed, threads, until, iterations, {"env": env})])
    return dict(row, threads=threads)


def run_pair(step, seed, threads=None, iterations=None, env=None):
    """The step beside a second copy of itself, both on `seed`, the copy already training when the measured
    run starts and until it ends (it is given 100,000 iterations, and killed then): started together, the
    two start-ups end at different times and a short run would be only partly overlapped. Returns [row],
    the row's 'overlap' the share of its training window during which the copy trained (1.0 when sound)."""
    companion = Child(step, seed, threads, None, 100_000, env=env)
    try:
        companion.training.wait(900)
        row = run(step, seed, threads, iterations=iterations, env=env)
        companion_end = (time.perf_counter() if companion.proc.poll() is None
                         else row["window"][0])  # ended early: unsound
    finally:
        companion.stop()
    beside = (companion.training_from or companion_end, companion_end)
    return [dict(row, overlap=overlap(row["window"], beside))]


class BusyLoop:
    """--load N: N processes spinning on the CPU, as another engineer's job would."""

    def __init__(self, n):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]

    def __enter__(self):
        time.sleep(1 if self.procs else 0)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()
