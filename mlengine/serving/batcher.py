"""Running the SavedModel for many concurrent requests: one model thread, requests batched on the fly.

TensorFlow's per-call cost dominates a single 28x28 image (0.51 ms for one image, 1.33 ms for 32 on the
2-core machine: benchmarks/serve_call_cost.py), so requests that arrive while the model is busy are served together by the next call:
no waiting when idle, one call for many requests under load. The event loop meanwhile parses HTTP and
JSON. No web stack here; tests drive it directly.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class Batcher:
    def __init__(self, predict, max_batch=256):
        """predict: float32 [n, 28, 28] -> (probabilities [n, 10], classes [n]), numpy in and out."""
        self.predict, self.max_batch = predict, max_batch
        self._queue = None
        self._task = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.calls = self.images = 0  # for /v1/models/mnist/stats and the benchmark

    async def start(self):
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self):
        if self._task:
            self._task.cancel()
        self._executor.shutdown(wait=False)

    async def __call__(self, x):
        """float32 [n, 28, 28] -> (probabilities [n, 10], classes [n]) for this request alone."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((x, future))
        return await future

    async def _serve(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            n = len(items[0][0])
            while n < self.max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
                n += len(items[-1][0])
            x = items[0][0] if len(items) == 1 else np.concatenate([x for x, _ in items])
            try:
                probabilities, classes = await loop.run_in_executor(self._executor, self.predict, x)
            except Exception as e:  # noqa: BLE001 (a failed call fails its requests, not the service)
                for _, future in items:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.calls, self.images = self.calls + 1, self.images + n
            start = 0
            for x, future in items:
                if not future.done():  # a client that went away leaves a cancelled future
                    future.set_result((probabilities[start:start + len(x)], classes[start:start + len(x)]))
                start += len(x)
