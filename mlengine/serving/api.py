"""The HTTP API of the service, as an ASGI app (FastAPI): TensorFlow Serving's REST API for the model, and the
draw-a-digit page. The model comes in as a callable (serve.Model, or any stand-in with the same face).

    GET  /v1/models/mnist              status (TF Serving's model_version_status)
    GET  /v1/models/mnist/metadata     the serving_default signature
    POST /v1/models/mnist:predict      {"instances": [{"image": 28x28}, ...]} -> {"predictions": [...]}
                                       {"inputs": {"image": [N, 28, 28]}}     -> {"outputs": {...}}
    (also under /v1/models/mnist/versions/N, N the version served)
    POST /image                        the bytes of a PNG, JPEG, GIF, BMP or WebP file -> the 28x28 the
                                       model saw, predictions (any other file: 415, before decoding)
    GET  /                             the page: draw a digit (mouse or finger), or upload a picture

Errors are {"error": "..."} with a 4xx status, and the service goes on. Limits: at most max_instances images
per request (413 beyond), a body of at most max_body bytes (413), values finite and in 0..1 (400 otherwise,
true/false too: the service does not guess a scale or clip; divide 0..255 by 255), a picture of at most 25
megapixels by its header (413, before its pixels are decoded), a body whole within body_seconds (408, the
connection closed; the head's deadline is serve.py's). A URL with the wrong method gets 405 and the Allow
header of the methods it takes (GET .../mnist:predict: POST); OPTIONS gets that Allow header with a 204.
mlengine/README.md has the whole table.
"""
import asyncio
import contextlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from . import digits

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


class Refused(digits.BadInput):
    """A 4xx with headers of its own (408's Connection: close)."""

    def __init__(self, message, status, headers):
        super().__init__(message, status)
        self.headers = headers


class Gone(Exception):
    """The client closed its connection before its request was whole: there is no one to answer, and nothing
    worth a line in the log (any client can do it, as often as it likes)."""


def segment_convertor():
    """A path segment without ':', for {model_name} and {version}: `mnist:predict` is then no model name,
    so Starlette routes GET, OPTIONS ... of `.../mnist:predict` to the :verb route, whose method is POST."""
    from starlette.convertors import Convertor, register_url_convertor

    class Segment(Convertor):
        regex = "[^/:]+"

        def convert(self, value):
            return value

        def to_string(self, value):
            return value
    register_url_convertor("segment", Segment())


def create_app(model, name="mnist", max_instances=1000, max_body=16 << 20, max_batch=256, body_seconds=30.0):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, Response
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

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
    async def http_error(request, e):  # Starlette's 404 and 405 (the latter with the URL's Allow header)
        if e.status_code == 405 and request.method == "OPTIONS":  # what OPTIONS asks: the methods the URL takes
            return Response(status_code=204, headers=e.headers)
        verb = re.search(r":(\w+)$", request.url.path)
        if e.status_code == 405 and verb:
            return error(f"{request.method} .../{name}:{verb[1]}: :{verb[1]} takes POST, with a JSON body "
                         '{"instances": [...]}', 405, e.headers)
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
        """The request body; a BadInput(413) as soon as it passes max_body (before reading it all), a 408 (and
        the connection closed) when it is not whole within body_seconds, Gone when the client leaves."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body:
            raise digits.BadInput(f"request body of {int(length):,} bytes is too large: at most {max_body:,}", 413)

        async def read():
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body:
                    raise digits.BadInput(f"request body too large: at most {max_body:,} bytes", 413)
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            if hasattr(asyncio, "timeout"):  # one timer for the body (Python 3.11+): ~10 us a request
                async with asyncio.timeout(body_seconds):
                    return await read()
            return await asyncio.wait_for(read(), body_seconds)  # Python 3.10: a task more, ~50 us
        except asyncio.TimeoutError:
            raise Refused(f"the request body did not arrive within {body_seconds:g} s", 408,
                          {"Connection": "close"}) from None
        except ClientDisconnect:
            raise Gone() from None

    def check_model(model_name, version):
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
        bools = b"true" in raw or b"false" in raw  # (a scan of the bytes: the per-number check only then)
        if "instances" in doc:
            x = digits.from_instances(doc["instances"], max_instances, bools=bools)
            probabilities, classes = await batcher(x)
            return {"predictions": [{"predictions": p, "classes": int(c)}
                                    for p, c in zip(probabilities, classes)]}
        x = digits.from_inputs(doc["inputs"], max_instances, bools=bools)
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
            except Gone:
                return Response(status_code=400)  # to a closed connection: never sent
        return endpoint

    segment_convertor()
    for prefix in ("/v1/models/{model_name:segment}", "/v1/models/{model_name:segment}/versions/{version:segment}"):
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
