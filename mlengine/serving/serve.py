"""The prediction service: the exported model behind TensorFlow Serving's REST API and a draw-a-digit page
(serving/api.py), on uvicorn.

    python -m serving.serve --model-dir JOB [--host 127.0.0.1] [--port 8501]

Flags set the limits (--max-instances, --max-body-mb, --max-batch); the API and its answers: serving/api.py.
Only this module and api.py import the web stack (FastAPI, uvicorn); the flags and --model-dir are checked
before it and TensorFlow load, in one line.
"""
import argparse
import gc
import os
import re
import socket
import sys

from visualiser import quiet

from . import digits, modeldir
from .api import create_app


class Model:
    """The SavedModel's serving_default as numpy in, numpy out, with what the metadata reports."""

    def __init__(self, model_dir):
        import tensorflow as tf
        from . import export
        self.folder, self.fn = export.load(model_dir)
        base = os.path.basename(os.path.normpath(self.folder))
        self.version = base if base.isdigit() else "1"
        self._tf = tf

    def __call__(self, x):
        out = self.fn(image=self._tf.constant(x))
        return out["predictions"].numpy(), out["classes"].numpy()

    def signature_def(self):
        """TF Serving's JSON of the signature (as GET .../metadata answers)."""
        from tensorflow.core.framework.types_pb2 import DataType
        def spec(s, name):
            dims = [{"size": str(-1 if d is None else d), "name": ""} for d in s.shape]
            return {"dtype": DataType.Name(s.dtype.as_datatype_enum),
                    "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}
        inputs = self.fn.structured_input_signature[1]
        return {"inputs": {k: spec(s, f"serving_default_{k}:0") for k, s in inputs.items()},
                "outputs": {k: spec(s, f"StatefulPartitionedCall:{i}")
                            for i, (k, s) in enumerate(sorted(self.fn.structured_outputs.items()))},
                "method_name": "tensorflow/serving/predict", "defaults": {}}


class ServeError(Exception):
    """The service cannot start: main says why, in one line."""


def listen(host, port):
    """A listening socket (port 0: any free one), or ServeError before anything starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except (OSError, OverflowError) as e:
        raise ServeError(f"cannot listen on {host}:{port} ({e}); choose another --port") from None
    sock.listen(1024)
    return sock


def head_deadline(protocol, seconds):
    """uvicorn's HTTP protocol class with a deadline on each request's head (its line and headers): it must be
    whole within `seconds` of the connection, or of its own first byte on a kept-alive connection, else the
    client gets a 408 and the connection is closed (closed unanswered if it sent nothing at all: browsers
    open a spare connection ahead of their next request, and a 408 waiting there could be read as its
    answer). uvicorn has no such limit, so a client that sends half a head (or nothing) held its connection
    for ever: 200 of them held 200 (and a process at the common limit of 1,024 files would run out). The
    body's deadline is api.py's; idle kept-alive connections are uvicorn's
    (--timeout-keep-alive, 5 s)."""
    late = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s")
    message = b'{"error": "the request head did not arrive within %g s"}' % seconds

    class HeadDeadline(protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._tail, self._head_whole, self._begun = b"", False, False
            self._timer = self.loop.call_later(seconds, self._late)

        def data_received(self, data):
            self._begun = True
            if not self._head_whole:
                seen = self._tail + data
                if HEAD_END.search(seen):  # the blank line that ends a head: in the first read, as a rule
                    self._head_whole = True
                    if self._timer is not None:
                        self._timer.cancel()
                        self._timer = None
                else:  # a head in pieces: its clock runs from its first byte
                    if self._timer is None:
                        self._timer = self.loop.call_later(seconds, self._late)
                    self._tail = seen[-3:]
            super().data_received(data)

        def on_response_complete(self):
            super().on_response_complete()
            self._tail, self._head_whole = b"", False  # the next head: timed only if it comes in pieces

        def connection_lost(self, exc):
            if self._timer is not None:
                self._timer.cancel()
            super().connection_lost(exc)

        def _late(self):
            self._timer = None
            if not self._head_whole and not self.transport.is_closing():
                if self._begun:
                    self.transport.write(late % (len(message), message))
                self.transport.close()
    return HeadDeadline


HEAD_END = re.compile(rb"\r?\n\r?\n")


def tcp_port(text):
    """--port's type: a TCP port, 0..65535 (the kernel would take 99999 as 99999 mod 65536)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0..65535 (0: any free one), got {text!r}")
    return int(text)


def at_least(low, kind=int):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value >= low:  # (NaN fails this too)
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return value
    return check


def seconds(text):
    """--request-timeout's type: seconds, 0.1 to 3600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0.1 <= value <= 3600:  # (NaN fails this too)
        raise argparse.ArgumentTypeError(f"must be 0.1 to 3600 seconds, got {text}")
    return value


def url_name(text):
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(f"letters, digits, '.', '_' and '-' (it is part of the URLs), got {text!r}")
    return text


def parser():
    p = argparse.ArgumentParser(prog="python -m serving.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True, help="a job directory, its export/ folder, or one SavedModel")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=tcp_port, default=8501,
                   help="TCP port, 0..65535 (default: %(default)s, TF Serving's REST port; 0: any free one)")
    p.add_argument("--model-name", type=url_name, default="mnist",
                   help="the name in the URLs (default: %(default)s)")
    p.add_argument("--max-instances", type=at_least(1), default=1000,
                   help="images per request at most (default: %(default)s)")
    p.add_argument("--max-body-mb", type=at_least(0.001, float), default=16,
                   help="request body size limit, in MB (default: %(default)s)")
    p.add_argument("--max-batch", type=at_least(1), default=256,
                   help="images of concurrent requests run in one model call, at most (1: no batching; "
                        "default: %(default)s)")
    p.add_argument("--request-timeout", type=seconds, default=30.0,
                   help="seconds a request's head, then its body, may take to arrive; a slower client gets "
                        "408 and its connection is closed (default: %(default)s)")
    return p


def main(argv=None):
    """The command: a flag's mistake is argparse's line (exit code 2); a --model-dir without a SavedModel, a
    missing extra or a port it cannot take is said here in one line (exit code 1)."""
    args = parser().parse_args(argv)
    try:
        return serve(args)
    except (ServeError, modeldir.ModelDirError) as e:
        print(f"serve: {e}", file=sys.stderr)
        return 1


def serve(args):
    folder = modeldir.find_export(args.model_dir)  # a wrong --model-dir in one line, before TensorFlow loads
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise ServeError(f"it needs {e.name}: pip install -r mlengine/requirements.txt (fastapi, uvicorn, "
                         "pillow)") from None
    sock = listen(args.host, args.port)
    quiet.import_tensorflow()
    model = Model(folder)
    model(digits.np.zeros((1, 28, 28), "float32"))  # trace and warm up before the first client
    app = create_app(model, args.model_name, args.max_instances, int(args.max_body_mb * (1 << 20)),
                     args.max_batch, args.request_timeout)
    host, port = sock.getsockname()[:2]
    print(f"serving {model.folder} as {args.model_name!r} version {model.version} at http://{host}:{port}/ "
          "(Ctrl-C to stop)", flush=True)
    gc.collect()
    gc.freeze()  # the model's many long-lived objects out of the collector's way: steadier latency
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                            http=head_deadline(AutoHTTPProtocol, args.request_timeout))
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
