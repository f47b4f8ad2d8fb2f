"""Load benchmark of `mnistlab serve` (not a test): C concurrent clients, each sending single-image JSON
predictions back to back over a keep-alive connection, for D seconds, on loopback.

    python benchmarks/serve_load.py RUN_DIR [--concurrency 32] [--duration 120] [--out FILE]

Starts the server itself (`python -m mnistlab serve RUN_DIR --port 0`, one process, as a user would) unless
--url points at a running one, so it can read the server's resident memory (RSS) at the start and the end.
Reports requests/s, latency percentiles (p50, p99, max), errors (non-200 or malformed answers), RSS and CPU
per request of server and client, and the
machine's load average, which matters: the load generator and the server share the same cores.
Targets (issue 5): >= 500 req/s, p99 <= 50 ms, zero errors, memory flat over 2 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(run_dir: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", run_dir, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    for line in proc.stdout:
        if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain: a full pipe blocks it
            return proc, m.group(1)
    raise SystemExit("server did not start: " + proc.stdout.read())


def bodies(n: int = 200) -> tuple[list[bytes], list[int]]:
    """Single-image requests made of real test digits, serialised once (the client must not be the
    bottleneck), and their labels."""
    from mnistlab.data import load
    data = load("mnist")
    x = data.test_x[:n, 0].numpy().round(4)
    return ([json.dumps({"instances": [{"image": img.tolist()}]}).encode() for img in x],
            data.test_y[:n].tolist())


async def client(session, url: str, payloads: list[bytes], start: int, stop_at: float, stats: dict) -> None:
    i = start
    while time.perf_counter() < stop_at:
        body = payloads[i % len(payloads)]
        t = time.perf_counter()
        try:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                answer = await r.json()
                ok = r.status == 200 and len(answer["predictions"][0]["probabilities"]) == 10
        except Exception as e:  # noqa: BLE001  (a benchmark counts every failure)
            ok = False
            stats["last_error"] = f"{type(e).__name__}: {e}"
        stats["latency"].append(time.perf_counter() - t)
        stats["errors"] += not ok
        i += 1


async def load(url: str, concurrency: int, seconds: float, payloads: list[bytes], after_warmup=lambda: None) -> dict:
    import aiohttp
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = {"latency": [], "errors": 0}  # connections opened, caches warm; not counted
        await asyncio.gather(*[client(session, url, payloads, k, time.perf_counter() + 3, warm)
                               for k in range(concurrency)])
        stats = {"latency": [], "errors": 0, "after_warmup": after_warmup()}
        t0 = time.perf_counter()
        await asyncio.gather(*[client(session, url, payloads, k * 7, t0 + seconds, stats)
                               for k in range(concurrency)])
        stats["seconds"] = time.perf_counter() - t0
        stats["warmup_requests"] = len(warm["latency"])
    return stats


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", nargs="?", help="a trained run to serve (or --url)")
    p.add_argument("--url", help="a running service, e.g. http://127.0.0.1:8000/ (no RSS figures)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=120, help="seconds of measured load (after 3 s warm-up)")
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args()
    if not (args.run_dir or args.url):
        p.error("give a RUN_DIR to serve or --url of a running service")
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.run_dir)
    payloads, _ = bodies()
    import gc
    gc.collect()
    gc.freeze()  # torch is loaded here too: the generator's own full collections would count as latency
    try:
        rss_start = rss_mb(proc.pid) if proc else None
        load_start = os.getloadavg()
        cpu = (cpu_seconds(proc.pid) if proc else 0.0, time.process_time())
        stats = asyncio.run(load(url.rstrip("/") + "/v1/predict", args.concurrency, args.duration, payloads,
                                 after_warmup=lambda: rss_mb(proc.pid) if proc else None))
        rss_end = rss_mb(proc.pid) if proc else None
        cpu = (cpu_seconds(proc.pid) - cpu[0] if proc else None, time.process_time() - cpu[1])
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    lat = sorted(stats["latency"])
    result = {
        "concurrency": args.concurrency, "seconds": round(stats["seconds"], 1), "requests": len(lat),
        "requests_per_second": round(len(lat) / stats["seconds"], 1),
        "latency_ms": {"p50": round(1e3 * percentile(lat, 0.50), 2), "p99": round(1e3 * percentile(lat, 0.99), 2),
                       "max": round(1e3 * lat[-1], 2)},
        # CPU seconds per 1,000 requests (warm-up included): what each side costs on these shared cores
        "server_cpu_ms_per_request": cpu[0] and round(1e3 * cpu[0] / (len(lat) + stats["warmup_requests"]), 3),
        "client_cpu_ms_per_request": round(1e3 * cpu[1] / (len(lat) + stats["warmup_requests"]), 3),
        "errors": stats["errors"], "last_error": stats.get("last_error"),
        # idle: model loaded, no request yet; then after the 3 s warm-up and at the end: flat means no leak
        "server_rss_mb": {"idle": rss_start and round(rss_start, 1),
                          "after_warmup": stats["after_warmup"] and round(stats["after_warmup"], 1),
                          "end": rss_end and round(rss_end, 1)},
        "load_average_before": [round(v, 2) for v in load_start],
        "load_average_after": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
