"""The local launcher behind `python -m trainer.task --workers N ...`: a cluster of N worker processes on
this machine, supervised as a cluster manager would.

    python -m trainer.task --workers 2 --job-dir ../runs/mlengine/two --hp-iterations 600

Each worker is `python -m trainer.task FLAGS` with TF_CONFIG naming N loopback ports (free ones, or
--ports) and its own index; their output is printed with a `[worker k]` prefix. With N workers on this
machine's cores each gets cores/N TensorFlow threads (--threads overrides).

Fault tolerance: when a worker is killed (any signal: kill -9, the OOM killer), the others are stuck in
their next all-reduce, so the launcher stops them and starts all N again; they resume from the chief's last
checkpoint, and since every step is a pure function of (seed, step) and the restored state, nothing is lost
but the steps since that checkpoint, which are redone. A worker that fails by itself (exit code > 0: a bad
flag, a refused job directory) is not restarted: it would fail again. Ctrl-C or SIGTERM to the launcher
reaches every worker; they agree on a step, save a checkpoint and stop.
"""
import os
import signal
import subprocess
import sys
import threading
import time

from . import cluster

MLENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `-m trainer.task` is found
OWN_FLAGS = {"--workers", "--ports", "--max-restarts"}  # the launcher's; the workers get the rest
GRACE = 5.0  # seconds a worker gets to exit after SIGTERM (one stuck in a collective never does)


def say(line):
    print(f"[launcher] {line}", flush=True)


def worker_flags(argv):
    """argv without the launcher's own flags (`--workers 2` or `--workers=2`)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in OWN_FLAGS:
            skip = True
        elif arg.split("=", 1)[0] not in OWN_FLAGS:
            out.append(arg)
    return out


# gRPC's and the collectives' C++ log lines when a peer is gone: the launcher says it in one line. (TensorFlow's
# start-up lines each worker filters itself: visualiser/quiet.py.)
CHATTER = ("Additional GRPC error information", "Error received from peer", "Aborting RingReduce",
           "BaseCollectiveExecutor::StartAbort")


def _relay(proc, prefix, lock):
    for line in proc.stdout:
        if any(c in line for c in CHATTER):
            continue
        with lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()


def start_workers(flags, ports):
    """Popen of every worker, each with its TF_CONFIG; their output relayed with a prefix."""
    procs, lock = [], threading.Lock()
    for i in range(len(ports)):
        env = dict(os.environ, TF_CONFIG=cluster.tf_config(ports, i), PYTHONUNBUFFERED="1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.Popen([sys.executable, "-m", "trainer.task", *flags], cwd=MLENGINE, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        say(f"worker {i}: pid {proc.pid}, localhost:{ports[i]}" + (" (chief)" if i == 0 else ""))
        threading.Thread(target=_relay, args=(proc, f"[worker {i}] ", lock), daemon=True).start()
        procs.append(proc)
    return procs


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for_first_failure(procs, stopping):
    """Block until every worker ended well (-> None) or one failed (-> {index: return code} of the ended)."""
    deadline = None
    while True:
        codes = [p.poll() for p in procs]
        if stopping and deadline is None:
            deadline = time.monotonic() + 60  # time to agree on a step and save; then stop_all kills
        if deadline and time.monotonic() > deadline:
            return {i: c for i, c in enumerate(codes) if c is not None}
        if all(c == 0 for c in codes):
            return None
        if any(c not in (None, 0) for c in codes) and not stopping:
            time.sleep(1.0)  # a peer of a killed worker may fail a moment later: see the whole picture
            return {i: p.poll() for i, p in enumerate(procs) if p.poll() is not None}
        if stopping and all(c is not None for c in codes):
            return {i: c for i, c in enumerate(codes)}
        time.sleep(0.2)


def supervise(flags, n, ports=None, max_restarts=3):
    """Run the N-worker job to its end, restarting all workers when one is killed. -> the exit code."""
    if ports:
        cluster.check_ports(ports)
    if not any(f == "--threads" or f.startswith("--threads=") for f in flags):
        flags = [*flags, "--threads", str(max(1, cluster.cores() // n))]
    stopping, procs = [], []

    def forward(signum, frame):  # SIGTERM to every worker (a second SIGINT would stop one mid-step)
        stopping.append(signal.Signals(signum).name)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for attempt in range(max_restarts + 1):
            chosen = ports or cluster.free_ports(n)
            if attempt:
                cluster.check_ports(chosen)
            procs[:] = start_workers(flags, chosen)
            ended = wait_for_first_failure(procs, stopping)
            if ended is None:
                say(f"all {n} workers finished")
                return 0
            killed = {i: c for i, c in ended.items() if c is not None and c < 0}
            stop_all(procs)
            if stopping:
                say(f"stopped ({stopping[0]}); run the same command to resume")
                return 1
            if not killed:
                i, code = next((i, c) for i, c in ended.items() if c)
                say(f"worker {i} failed (exit code {code}); not restarting: it would fail again")
                return code
            i, code = next(iter(killed.items()))
            if attempt == max_restarts:
                say(f"worker {i} was killed ({signal.Signals(-code).name}); {max_restarts} restarts used, "
                    "giving up (the job directory holds the last checkpoint: run the same command to resume)")
                return 1
            say(f"worker {i} was killed ({signal.Signals(-code).name}): stopping the others, restarting all "
                f"{n} from the last checkpoint (restart {attempt + 1} of {max_restarts})")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if procs:
            stop_all(procs)
