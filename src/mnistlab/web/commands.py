"""`mnistlab serve RUN_DIR` and the `--port/--host` options of `mnistlab train --display web`.

Imported while the CLI builds its parser, so nothing here imports the web stack at module level."""
from __future__ import annotations

import sys

DEFAULT_HOST = "127.0.0.1"  # this machine only; from elsewhere use an SSH tunnel, or --host 0.0.0.0 on a trusted network
SERVE_PORT, LIVE_PORT = 8000, 8008


def add_arguments(p, name: str) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run (mnistlab train)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=SERVE_PORT, help=f"default {SERVE_PORT}; 0 picks a free port")
    p.add_argument("--max-instances", type=int, default=None, help="images per call (default 100)")


def add_train_arguments(p) -> None:
    g = p.add_argument_group("--display web (the live dashboard in a browser)")
    g.add_argument("--port", type=int, default=LIVE_PORT, help=f"default {LIVE_PORT}; 0 picks a free port")
    g.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}: this machine only")


def need_web_stack(what: str) -> None:
    """ValueError naming the missing package when the `web` extra is not installed."""
    for module in ("fastapi", "uvicorn", "multipart"):
        try:
            __import__(module)
        except ImportError:
            raise ValueError(f"{what} needs the web extra ({module} is missing): pip install 'mnistlab[web]'") from None


def run(args) -> int:
    try:
        need_web_stack("mnistlab serve")
        if args.max_instances is not None and args.max_instances < 1:
            raise ValueError(f"--max-instances must be >= 1, got {args.max_instances}")
        from .server import listen, serve_forever, url
        sock = listen(args.host, args.port)
    except ValueError as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 2
    from .app import MAX_INSTANCES, create_app
    app = create_app(args.run_dir, max_instances=args.max_instances or MAX_INSTANCES)
    print(f"serving {args.run_dir} on {url(sock)}  (draw page: /, API: POST /v1/predict, docs: /docs; Ctrl-C stops)",
          flush=True)
    serve_forever(app, sock)
    return 0
