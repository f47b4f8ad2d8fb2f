"""Running an ASGI app with uvicorn on a socket we bind ourselves: a busy port is one clear error before
anything starts, `--port 0` picks a free port, and the URL printed is the one really listening."""
from __future__ import annotations

import socket
import threading


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; ValueError says what to do when that is not possible."""
    if not 0 <= port <= 65535:  # getaddrinfo would silently take it modulo 65536
        raise ValueError(f"--port must be 0..65535 (0: any free port), got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise ValueError(f"--host {host}: not a known address; use 127.0.0.1 (this machine only) or 0.0.0.0") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port") from None
    sock.listen(2048)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def make_server(app, sock: socket.socket, log_level: str = "warning"):
    import uvicorn
    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=2,
                            fd=None, lifespan="on")
    server = uvicorn.Server(config)
    server.sockets = [sock]
    return server


def serve_forever(app, sock: socket.socket) -> None:
    """Serve on this thread until Ctrl-C (uvicorn handles the signal and shuts down cleanly)."""
    server = make_server(app, sock)
    server.run(sockets=[sock])


class Background:
    """The app served by a daemon thread (uvicorn installs no signal handlers off the main thread)."""

    def __init__(self, app, sock: socket.socket):
        self.url = url(sock)
        self._server = make_server(app, sock)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="mnistlab-web", daemon=True)

    def start(self) -> "Background":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
