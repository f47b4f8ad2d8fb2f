"""The prediction service: `create_app(run_dir)` -> a FastAPI app.

    POST /v1/predict   JSON {"instances": [{"image": 28x28 in [0, 1]}, ...]}  or  multipart PNG/JPEG file(s)
                       -> {"predictions": [{"class", "probabilities" [10], ("image" 28x28, "file")}, ...]}
    GET  /health       -> {"status": "ok", "run", "recipe", "test_accuracy"}
    GET  /             the draw-a-digit page (static files shipped in the package, no build step)
    GET  /docs, /openapi.json   FastAPI's own description of the API

Every refusal is a 4xx JSON {"error": "..."} that says what is wrong; the service keeps serving. No endpoint
reads a file named by the client: the page's files are read from the package once, at start-up.
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from .inference import Batcher, BadInput, parse_instances, picture

MAX_BODY_BYTES = 1 << 20  # 1 MiB: ~160 JSON images at full float precision, or several phone photos
MAX_INSTANCES = 100       # images per call (JSON instances or uploaded files)
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}


class Prediction(BaseModel):  # for the OpenAPI description; responses are built as plain JSON
    class_: int = Field(alias="class", description="the predicted class, 0..9")
    probabilities: list[float] = Field(description="softmax probabilities of the 10 classes")
    image: list[list[float]] | None = Field(None, description="uploads only: the 28x28 image the model saw")
    file: str | None = Field(None, description="uploads only: the uploaded file's name")


class Predictions(BaseModel):
    predictions: list[Prediction]


class Error(BaseModel):
    error: str


_IMAGE_SCHEMA = {"type": "array", "minItems": 28, "maxItems": 28, "description": "28 rows of 28 grey levels in [0, 1], "
                 "light digit on black, MNIST-style (see `mnistlab export`)",
                 "items": {"type": "array", "minItems": 28, "maxItems": 28,
                           "items": {"type": "number", "minimum": 0, "maximum": 1}}}
_REQUEST_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["instances"], "properties": {"instances": {
        "type": "array", "minItems": 1, "maxItems": MAX_INSTANCES,
        "items": {"oneOf": [{"type": "object", "required": ["image"], "properties": {"image": _IMAGE_SCHEMA}},
                            _IMAGE_SCHEMA]}}}},
        "example": {"instances": [{"image": [[0.0] * 28] * 28}]}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {
        "type": "array", "items": {"type": "string", "format": "binary"},
        "description": "PNG/JPEG picture(s) of one digit each, any size, dark-on-light or light-on-dark; "
                       "preprocessed like `mnistlab predict`"}}}},
}}


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes, by Content-Length before reading anything,
    and by counting while reading for chunked bodies that do not announce their size."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            message = (f"request body of {int(length):,} bytes is over the limit of {self.limit:,}; send fewer "
                       "images per call" if length.isdigit() else "invalid Content-Length header")
            response = JSONResponse({"error": message}, status_code=413 if length.isdigit() else 400)
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BadInput(413, f"request body is over the limit of {self.limit:,} bytes; send fewer images per call")
            return message
        await self.app(scope, counted, send)


def static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package: URL name -> (content, media type)."""
    folder = resources.files("mnistlab.web") / "static"
    return {f.name: (f.read_bytes(), CONTENT_TYPES[Path(f.name).suffix])
            for f in folder.iterdir() if Path(f.name).suffix in CONTENT_TYPES}


def add_static(app: FastAPI, index: str) -> None:
    """GET / -> `index`, GET /static/NAME -> one of the package's files (a key into a dict, never a path)."""
    files = static_files()

    @app.get("/", include_in_schema=False)
    def page():
        body, media = files[index]
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in files:
            raise HTTPException(404, f"no static file {name!r}")
        body, media = files[name]
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadInput)
    async def bad_input(request, exc: BadInput):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        problems = "; ".join(f"{' '.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def create_app(run_dir: str | Path, *, max_body: int = MAX_BODY_BYTES, max_instances: int = MAX_INSTANCES,
               threads: int = 1) -> FastAPI:
    """The service for one trained run. `threads`: torch's intra-op threads for the model (one: the other
    core parses requests; batches of concurrent requests make up for it)."""
    import gc

    import torch

    from ..runs import RunDir
    run = RunDir.open(run_dir)
    model, recipe = run.load_model("cpu")
    torch.set_num_threads(threads)
    batcher = Batcher(model)
    summary = run.summary or {}
    health = {"status": "ok", "run": run.path.resolve().name, "recipe": recipe.name,
              "test_accuracy": summary.get("final_test_accuracy")}

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        # torch, FastAPI and the model are ~10^6 long-lived objects: without this, each full collection walks
        # them all (tens of ms with every request waiting). Frozen, only per-request objects are collected.
        gc.collect()
        gc.freeze()
        yield
        await batcher.stop()

    app = FastAPI(title="mnistlab prediction service", version="1", lifespan=lifespan,
                  description=f"Digit classification with the trained run `{health['run']}` ({recipe.name}).")
    app.add_middleware(BodyLimit, limit=max_body)
    add_error_handlers(app)
    add_static(app, "draw.html")

    @app.get("/health", summary="liveness and which model is served")
    def get_health():
        return health

    @app.post("/v1/predict", summary="classify 28x28 images (JSON) or uploaded pictures (multipart)",
              openapi_extra={"requestBody": _REQUEST_BODY},
              responses={200: {"model": Predictions}, 400: {"model": Error}, 413: {"model": Error},
                         415: {"model": Error}, 422: {"model": Error}})
    async def predict(request: Request):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                payload = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError) as e:
                raise BadInput(400, f"body is not valid JSON: {e}") from None
            x, names = parse_instances(payload, max_instances), None
        elif kind == "multipart/form-data":
            x, names = await _uploads(request, max_instances)
        else:
            raise BadInput(415, f"Content-Type {kind or 'missing'}: send application/json "
                                '({"instances": [...]}) or multipart/form-data with PNG/JPEG file(s)')
        probs = await batcher.probabilities(x)  # (n, 10)
        out = []
        for i, p in enumerate(probs):
            item = {"class": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}
            if names is not None:
                item["file"] = names[i]
                item["image"] = x[i].round(3).tolist()
            out.append(item)
        return JSONResponse({"predictions": out})

    return app


async def _uploads(request: Request, max_instances: int):
    import numpy as np
    from starlette.formparsers import MultiPartException
    try:
        form = await request.form(max_files=max_instances, max_fields=max_instances)
    except MultiPartException as e:
        raise BadInput(400, f"malformed multipart body: {e.message}") from None
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not files:
        raise BadInput(422, "the multipart body holds no file; send the picture as a file field, "
                            "e.g. curl -F file=@digit.png")
    images = [picture(await f.read(), f.filename or "upload") for f in files]
    return np.stack(images), [f.filename or "upload" for f in files]
