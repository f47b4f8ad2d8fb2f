"""The prediction service's two halves that know nothing of HTTP: checking client input, and running the
model in batches.

Clients send 28x28 images (JSON) or picture files; both become (N, 28, 28) float32 arrays in [0, 1], the
contract of `mnistlab export` and of `preprocess.to_mnist`. Anything else is a BadInput whose message says
what is wrong, at which instance, and what to send instead.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MAX_PIXELS = 4096 * 4096  # a 1 MB PNG of one colour can claim 100+ megapixels: refuse before decoding it


class BadInput(Exception):
    """A request the service cannot answer; `status` is the HTTP status (4xx)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_instances(payload, max_instances: int) -> np.ndarray:
    """`{"instances": [{"image": 28x28}, 28x28, ...]}` (the course's format; a bare 28x28 list per instance
    is also accepted, and 784 flat values) -> (N, 28, 28) float32."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadInput(422, 'expected a JSON object {"instances": [{"image": 28x28 numbers in [0, 1]}, ...]}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise BadInput(422, f'"instances" must be a list, got {type(instances).__name__}')
    if not instances:
        raise BadInput(422, '"instances" is empty: send at least one image')
    if len(instances) > max_instances:
        raise BadInput(413, f"too many instances: {len(instances):,} in one call, at most {max_instances:,}; "
                            "split them over several calls")
    return np.stack([_image(item, i) for i, item in enumerate(instances)])


def _image(item, i: int) -> np.ndarray:
    where = f"instances[{i}]"
    if isinstance(item, dict):
        if "image" not in item:
            raise BadInput(422, f'{where}: expected {{"image": 28x28 numbers}} or a bare 28x28 list, '
                                f"got an object with keys {sorted(item)[:5]}")
        item, where = item["image"], where + ".image"
    try:
        a = np.asarray(item)
    except ValueError:  # rows of different lengths
        raise BadInput(422, f"{where}: rows of different lengths; expected 28 rows of 28 numbers") from None
    if a.dtype.kind not in "biuf":  # strings, null, nested objects, integers too big for int64
        raise BadInput(422, f"{where}: expected 28 rows of 28 numbers, found non-numbers")
    if a.shape == (784,):
        a = a.reshape(28, 28)
    if a.shape != (28, 28):
        shape = "x".join(map(str, a.shape)) or "a single number"
        raise BadInput(422, f"{where}: expected 28x28 numbers (or 784 in one list), got {shape}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise BadInput(422, f"{where}: contains NaN or infinity; values must be numbers in [0, 1]")
    if a.min() < 0 or a.max() > 1:
        raise BadInput(422, f"{where}: values must be in [0, 1] (light digit on black), got min {a.min():g}, "
                            f"max {a.max():g}; divide 0..255 grey levels by 255")
    return a


def picture(data: bytes, name: str) -> np.ndarray:
    """An uploaded PNG/JPEG (any size, either polarity) -> (28, 28) MNIST-style, as `mnistlab predict`."""
    from PIL import Image, UnidentifiedImageError

    from ..preprocess import ImageError, open_image, to_mnist
    import io
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            w, h = probe.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise BadInput(415, f"file {name!r}: not a PNG/JPEG image") from None
    if w * h > MAX_PIXELS:
        raise BadInput(413, f"file {name!r}: {w}x{h} pixels is too large; at most {MAX_PIXELS // 10**6} megapixels")
    try:
        return to_mnist(open_image(data))
    except ImageError as e:
        raise BadInput(422, f"file {name!r}: {e}") from None


class Batcher:
    """Runs the model on one worker thread and batches the images of concurrent requests.

    Requests that arrive while a batch is on the model form the next batch, so there is no waiting at low
    load, and under load one forward pass serves many requests (conv 3.0 on one CPU thread: 235 us for one
    image, 785 us for 32). The event loop parses HTTP and JSON meanwhile: the two halves use the two cores.
    """

    def __init__(self, model, max_batch: int = 256):
        self.model, self.max_batch = model, max_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mnistlab-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, 28, 28) -> (n, 10) softmax probabilities."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((x, future))
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            n = len(items[0][0])
            while n < self.max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
                n += len(items[-1][0])
            try:
                probs = await loop.run_in_executor(self._executor, self._forward,
                                                   np.concatenate([x for x, _ in items]))
            except Exception as e:  # noqa: BLE001  (a model error fails these requests, not the service)
                for _, future in items:
                    if not future.done():
                        future.set_exception(e)
                continue
            start = 0
            for x, future in items:
                if not future.done():  # a client that went away has a cancelled future
                    future.set_result(probs[start:start + len(x)])
                start += len(x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        import torch
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(x).view(-1, 1, 28, 28))  # (n, 10)
            return torch.softmax(logits, 1).numpy()
