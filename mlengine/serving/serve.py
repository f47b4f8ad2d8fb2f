"""Online prediction for the exported model, speaking TensorFlow Serving's REST API, with a draw-a-digit page.

    python -m serving.serve --model-dir JOB [--host 127.0.0.1] [--port 8501]

    GET  /v1/models/mnist              status (TF Serving's model_version_status)
    GET  /v1/models/mnist/metadata     the serving_default signature
    POST /v1/models/mnist:predict      {"instances": [{"image": 28x28}, ...]} -> {"predictions": [...]}
                                       {"inputs": {"image": [N, 28, 28]}}     -> {"outputs": {...}}
    (also under /v1/models/mnist/versions/N, N the version served)
    POST /image                        the bytes of a PNG, JPEG, GIF, BMP or WebP file -> the 28x28 the
                                       model saw, predictions (any other file: 415, before decoding)
    GET  /                             the page: draw a digit (mouse or finger), or upload a picture

Errors are {"error": "..."} with a 4xx status, and the service goes on. Limits (flags): at most
--max-instances 1000 images per request (413 beyond), a body of at most --max-body-mb 16 (413), values
finite and in 0..1 (400 otherwise: the service does not guess a scale or clip; divide 0..255 by 255), a
picture of at most 25 megapixels by its header (413, before its pixels are decoded). A URL with the wrong
method gets 405 and an Allow header (GET .../mnist:predict: POST).
Only this module imports the web stack (FastAPI, uvicorn); the flags and --model-dir are checked before it
and TensorFlow load, in one line.
"""
import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

from . import digits, modeldir

try:
    import orjson

    def dumps(obj):
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    loads = orjson.loads
except ImportError:  # the same answers; a one-image body parses in 38 us instead of 13 us
    def dumps(obj):
        return json.dumps(obj, default=lambda a: a.tolist()).encode()
    loads = json.loads

HERE = os.path.dirname(os.path.abspath(__file__))


class MethodNotAllowed(digits.BadInput):
    """405, with the methods the URL takes (the Allow header HTTP asks for)."""

    def __init__(self, message, allow):
        super().__init__(message, 405)
        self.headers = {"Allow": allow}


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


def create_app(model, name="mnist", max_instances=1000, max_body=16 << 20, max_batch=256):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, Response
    from starlette.exceptions import HTTPException

    from .batcher import Batcher

    batcher = Batcher(model, max_batch=max_batch)
    decoders = ThreadPoolExecutor(2, thread_name_prefix="decode")  # pictures: off the event loop, 2 at a time
    with open(os.path.join(HERE, "static", "index.html"), encoding="utf-8") as f:
        page = f.read().replace("{{MODEL}}", name)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()
        decoders.shutdown(wait=False)

    # /openapi.json describes the API; no /docs: its Swagger page would load scripts from the internet
    app = FastAPI(title=f"{name} (TF Serving REST API)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.batcher = batcher

    def answer(obj, status=200, headers=None):
        return Response(dumps(obj), status_code=status, media_type="application/json", headers=headers)

    def error(message, status=400, headers=None):
        return answer({"error": message}, status, headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, e):  # Starlette's 404 and 405 (the latter with its Allow header)
        return error(f"{e.detail}: {request.method} {request.url.path}", e.status_code, e.headers)

    @app.exception_handler(Exception)
    async def internal_error(request, e):
        # a bug, not the client's fault: said in the API's format, without the exception's text (it may hold
        # paths or commands); the traceback goes to the service's log
        return error(f"internal error ({type(e).__name__}): see the service's log", 500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, e):
        return error(str(e), 400)

    async def body(request):
        """The request body, or a BadInput(413) as soon as it passes max_body (before reading it all)."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body:
            raise digits.BadInput(f"request body of {int(length):,} bytes is too large: at most {max_body:,}", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise digits.BadInput(f"request body too large: at most {max_body:,} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    def check_model(model_name, version):
        verb = (version if version is not None else model_name).partition(":")[2]
        if verb:  # GET .../mnist:predict: the {model_name} of the status URL swallowed the verb
            raise MethodNotAllowed(f"GET .../{name}:{verb}: :{verb} takes POST, with a JSON body "
                                   '{"instances": [...]}', allow="POST")
        if model_name != name:
            raise digits.BadInput(f"Servable not found for request: model {model_name!r} (this service "
                                  f"serves {name!r})", 404)
        if version is not None and version != model.version:
            raise digits.BadInput(f"Servable not found for request: {name} version {version} (serving "
                                  f"version {model.version})", 404)

    def status(model_name, version=None):
        check_model(model_name, version)
        return {"model_version_status": [{"version": model.version, "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata(model_name, version=None):
        check_model(model_name, version)
        return {"model_spec": {"name": name, "signature_name": "", "version": model.version},
                "metadata": {"signature_def": {"signature_def": {"serving_default": model.signature_def()}}}}

    async def predict(request, model_name, verb, version=None):
        check_model(model_name, version)
        if verb != "predict":
            raise digits.BadInput(f"unsupported verb :{verb}; this model answers :predict", 400)
        raw = await body(request)
        try:
            doc = loads(raw)
        except ValueError as e:
            hint = "; NaN and Infinity are not JSON numbers" if b"NaN" in raw or b"Infinity" in raw else ""
            raise digits.BadInput(f"the body is not valid JSON ({str(e)[:200]}{hint}); "
                                  'send {"instances": [...]}') from None
        if not isinstance(doc, dict) or ("instances" in doc) == ("inputs" in doc):
            raise digits.BadInput('the body must be a JSON object with one of "instances" (row format) or '
                                  '"inputs" (columnar format)')
        signature = doc.get("signature_name", "serving_default")
        if signature != "serving_default":
            raise digits.BadInput(f"no signature {signature!r}: this model has serving_default only")
        if "instances" in doc:
            x = digits.from_instances(doc["instances"], max_instances)
            probabilities, classes = await batcher(x)
            return {"predictions": [{"predictions": p, "classes": int(c)}
                                    for p, c in zip(probabilities, classes)]}
        x = digits.from_inputs(doc["inputs"], max_instances)
        probabilities, classes = await batcher(x)
        return {"outputs": {"predictions": probabilities, "classes": classes}}

    def route(handler):
        """Run a handler; a BadInput becomes {"error": ...} with its status, the service carries on."""
        async def endpoint(request: Request):
            try:
                result = handler(request, **request.path_params)
                if asyncio.iscoroutine(result):
                    result = await result
                return answer(result)
            except digits.BadInput as e:
                return error(str(e), e.status, getattr(e, "headers", None))
        return endpoint

    for prefix in ("/v1/models/{model_name}", "/v1/models/{model_name}/versions/{version}"):
        app.add_api_route(prefix, route(lambda r, **kw: status(**kw)), methods=["GET"])
        app.add_api_route(prefix + "/metadata", route(lambda r, **kw: metadata(**kw)), methods=["GET"])
        app.add_api_route(prefix + ":{verb}", route(predict), methods=["POST"])

    async def picture(request):
        data = await body(request)
        # decoded in a worker thread (Pillow's decoders and numpy release the GIL): a 25-megapixel PNG takes
        # about a second, during which the event loop goes on answering everyone else
        x = await asyncio.get_running_loop().run_in_executor(decoders, digits.picture_image, data,
                                                             "the uploaded file")
        probabilities, classes = await batcher(x[None])
        return {"image": x.round(3), "predictions": probabilities[0], "classes": int(classes[0])}

    app.add_api_route("/image", route(picture), methods=["POST"])
    app.add_api_route("/", lambda: HTMLResponse(page), methods=["GET"], include_in_schema=False)
    return app


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
    model = Model(folder)
    model(digits.np.zeros((1, 28, 28), "float32"))  # trace and warm up before the first client
    app = create_app(model, args.model_name, args.max_instances, int(args.max_body_mb * (1 << 20)),
                     args.max_batch)
    host, port = sock.getsockname()[:2]
    print(f"serving {model.folder} as {args.model_name!r} version {model.version} at http://{host}:{port}/ "
          "(Ctrl-C to stop)", flush=True)
    gc.collect()
    gc.freeze()  # the model's many long-lived objects out of the collector's way: steadier latency
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
