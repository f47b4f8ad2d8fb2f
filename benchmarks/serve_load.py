"""Load benchmark of the prediction service (not a test): C concurrent clients on loopback, each sending
single-image `:predict` requests back to back over its own keep-alive connection, for D seconds.

    python benchmarks/serve_load.py --model-dir JOB [--clients 32] [--duration 120] [--out FILE]
    python benchmarks/serve_load.py --url http://127.0.0.1:8501/     # a service already running

Starts `python -m serving.serve --model-dir JOB --port 0` itself (one process, as a user would) so it can
read the server's resident memory (RSS) when idle, after the warm-up and at the end. The client is a plain
asyncio HTTP/1.1 loop over bodies serialised once, so that it costs the shared cores little.
Reports requests/s, latency p50/p99/max, errors (connection failures, non-200 or malformed answers), the
share of answers that name the true label, RSS, CPU per request of server and client, and the load
average (the load generator and the server share the same 2 cores).
Targets (issue 14): >= 2,000 req/s, p99 <= 25 ms, no errors, RSS flat.
"""
import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(model_dir, extra):
    cmd = [sys.executable, "-m", "serving.serve", "--model-dir", os.path.abspath(model_dir), "--port", "0"] + extra
    proc = subprocess.Popen(cmd, cwd=os.path.join(ROOT, "mlengine"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2"))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # a full pipe would block it
            return proc, m.group(1)
    raise SystemExit("the server did not start:\n" + "".join(seen[-20:]))


def requests(host, port, path, n=200):
    """(request bytes, label) for n test digits, each a single-image row-format body."""
    import mnistdata
    test = mnistdata.read_data_sets(None, one_hot=False).test
    out = []
    for image, label in zip(test.images[:n, :, :, 0], test.labels[:n]):
        body = json.dumps({"instances": [{"image": image.round(3).tolist()}]}, separators=(",", ":")).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        out.append((head + body, int(label)))
    return out


async def client(host, port, reqs, offset, stop_at, stats):
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            req, label = reqs[i % len(reqs)]
            i += 1
            t = time.perf_counter()
            try:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                body = await reader.readexactly(length)
                answer = json.loads(body)["predictions"][0]
                ok = head.startswith(b"HTTP/1.1 200") and len(answer["predictions"]) == 10
                stats["right"] += answer["classes"] == label
            except Exception as e:  # noqa: BLE001 (a benchmark counts every failure)
                ok = False
                stats["last_error"] = f"{type(e).__name__}: {e}"
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            stats["latency"].append(time.perf_counter() - t)
            stats["errors"] += not ok
    finally:
        writer.close()


async def load(host, port, reqs, clients, seconds, warmup, after_warmup):
    warm = {"latency": [], "errors": 0, "right": 0}
    await asyncio.gather(*[client(host, port, reqs, k, time.perf_counter() + warmup, warm) for k in range(clients)])
    stats = {"latency": [], "errors": 0, "right": 0, "after_warmup": after_warmup()}
    t0 = time.perf_counter()
    await asyncio.gather(*[client(host, port, reqs, 7 * k, t0 + seconds, stats) for k in range(clients)])
    stats["seconds"] = time.perf_counter() - t0
    stats["warmup_requests"] = len(warm["latency"])
    return stats


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", help="a job directory (or SavedModel) to serve")
    p.add_argument("--url", help="a service already running on this machine (no RSS or server CPU figures)")
    p.add_argument("--clients", type=int, default=32, help="concurrent connections (default: %(default)s)")
    p.add_argument("--duration", type=float, default=120, help="seconds of measured load (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring (default: %(default)s)")
    p.add_argument("--server-arg", action="append", default=[], help="extra flag for serving.serve (repeat)")
    p.add_argument("--out", help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    if not (args.model_dir or args.url):
        p.error("give --model-dir JOB to serve, or --url of a running service")
    proc = None
    if args.url:
        url = args.url
    else:
        proc, url = start_server(args.model_dir, args.server_arg)
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error("the load test runs on loopback only: give a 127.0.0.1 URL")
    host, port = parts.hostname, parts.port or 80
    reqs = requests(host, port, "/v1/models/mnist:predict")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    import gc
    gc.collect()
    gc.freeze()
    try:
        rss_idle = rss_mb(proc.pid) if proc else None
        load_before = os.getloadavg()
        cpu0 = (cpu_seconds(proc.pid) if proc else None, time.process_time())
        stats = asyncio.run(load(host, port, reqs, args.clients, args.duration, args.warmup,
                                 after_warmup=lambda: rss_mb(proc.pid) if proc else None))
        rss_end = rss_mb(proc.pid) if proc else None
        cpu = (cpu_seconds(proc.pid) - cpu0[0] if proc else None, time.process_time() - cpu0[1])
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    lat = sorted(stats["latency"])
    total = len(lat) + stats["warmup_requests"]
    result = {
        "clients": args.clients, "seconds": round(stats["seconds"], 1), "requests": len(lat),
        "requests_per_second": round(len(lat) / stats["seconds"], 1),
        "latency_ms": {q: round(1e3 * percentile(lat, v), 2) for q, v in (("p50", .5), ("p99", .99))}
        | {"max": round(1e3 * lat[-1], 2)},
        "errors": stats["errors"], "last_error": stats.get("last_error"),
        "right_label_share": round(stats["right"] / max(1, len(lat)), 4),
        "server_rss_mb": {"idle": rss_idle, "after_warmup": stats["after_warmup"], "end": rss_end},
        "server_cpu_ms_per_request": cpu[0] and round(1e3 * cpu[0] / total, 3),
        "client_cpu_ms_per_request": round(1e3 * cpu[1] / total, 3),
        "server_args": args.server_arg, "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
