"""The one training loop: fit(recipe, data, sinks) -> RunResult.

Read it top to bottom: pick a batch (an index slice of a per-epoch permutation, data already on the
device), set the lr, forward, loss from logits, backward, step, then emit events at their cadence.
Only this module steps an optimiser. Everything a resume needs (weights, optimiser, step, the batch order
and every RNG state) goes into the checkpoint, so a resumed run reproduces an uninterrupted one on CPU.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import __version__
from .data import Dataset
from .augment import random_affine
from .events import (Bands, CheckpointSaved, DigitBatch, Event, RunEnded, RunStarted, Sink, TestUpdate,
                     TrainUpdate)
from .metrics import evaluate, mistakes, percentile_bands, time_to_accuracy
from .models import build_model, has_batchnorm, split_params
from .recipes import THRESHOLDS, Recipe
from .runs import RunDir, RunDirSink

if TYPE_CHECKING:
    from .distributed import Distributed


class Diverged(Exception):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Control:
    """Pause and stop requests from other threads (dashboard keys, window close, web page, Ctrl-C).
    The loop looks at it between steps, so a stop always leaves a consistent checkpoint."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()
        self.stop_requested = False

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self):
        self._running.clear()

    def resume(self):
        self._running.set()

    def toggle_pause(self):
        self.resume() if self.paused else self.pause()

    def stop(self):
        self.stop_requested = True
        self._running.set()

    def wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting (not counted as training time)."""
        if self._running.is_set():
            return 0.0
        t = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t


@dataclass
class RunResult:
    status: str                       # completed | interrupted | diverged
    summary: dict
    model: nn.Module
    run_dir: Path | None = None
    tests: list = field(default_factory=list)  # [(step, seconds, loss, accuracy)]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked, but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps asked, but MPS is not available; use --device auto or cpu")
    return torch.device(name)


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr_max, weight_decay=recipe.weight_decay,
                               momentum=recipe.momentum, nesterov=recipe.momentum > 0)
    cls = torch.optim.AdamW if recipe.weight_decay > 0 else torch.optim.Adam
    return cls(model.parameters(), lr=recipe.lr_max, weight_decay=recipe.weight_decay)


@contextmanager
def stop_on_sigint(control: Control):
    """First Ctrl-C asks the loop to stop after the current step (checkpoint, resumable); a second one
    interrupts at once. Only the main thread may install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        control.stop()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _activation_hooks(model: nn.Module, store: list):
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.Sigmoid))]
    return [m.register_forward_hook(lambda mod, inp, out: store.append(out.detach())) for m in acts]


def fit(recipe: Recipe, data: Dataset, sinks: list[Sink] = (), *, run: RunDir | None = None,
        device: str | torch.device = "auto", control: Control | None = None, model: nn.Module | None = None,
        resume: bool = False, dist: Distributed | None = None) -> RunResult:
    """Train `recipe` (or your own `model`, a (B,1,28,28) -> (B,10) classifier) and emit events to sinks.
    With `dist` (torchrun, see distributed.py) this process trains on its shard of every global batch."""
    device = resolve_device(device) if isinstance(device, str) else device
    control = control or Control()
    torch.manual_seed(recipe.seed)
    model = (model if model is not None else build_model(recipe)).to(device)
    if recipe.channels_last:  # (N, 1, 28, 28) inputs are laid out the same either way: only the model moves
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(recipe, model)
    data = data.to(device)
    n_train = len(data.train_x)
    if recipe.batch_size > n_train:
        raise ValueError(f"--batch-size {recipe.batch_size} is larger than the training set ({n_train} images)")
    weights, biases = split_params(model)
    second = "activations" if has_batchnorm(model) else "biases"

    # Batch order: a CPU generator (same stream on every device), one permutation per epoch.
    gen = torch.Generator().manual_seed(recipe.seed)
    perm, pos, step, elapsed = torch.randperm(n_train, generator=gen), 0, 0, 0.0
    tests: list = []  # (step, seconds, loss, accuracy)
    if resume:
        if dist is None:
            state = run.load_checkpoint(map_location=device)
        else:  # ranks > 0 have no run dir: rank 0 reads the checkpoint and sends it
            state = dist.broadcast(run.load_checkpoint() if run is not None else None)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, pos, elapsed, tests = state["step"], state["pos"], state["seconds"], [tuple(t) for t in state["tests"]]
        perm = state["perm"].cpu()
        gen.set_state(state["gen"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
        if run is not None:
            run.truncate_metrics(step)  # drop what a kill -9 wrote after this checkpoint
    perm_dev = perm.to(device)
    forward = model
    if dist is not None:
        model, forward = dist.wrap(model)  # forward: DDP, which averages gradients over the ranks
        dist.seed_rank(recipe.seed, step)

    sinks = list(sinks) + ([RunDirSink(run)] if run is not None else [])

    def emit(event: Event):
        for s in sinks:
            s.emit(event)

    def checkpoint():
        state = dict(model=model.state_dict(), optimizer=opt.state_dict(), step=step, pos=pos,
                     seconds=time.perf_counter() - t0, tests=[list(t) for t in tests], perm=perm,
                     gen=gen.get_state(), rng_cpu=torch.get_rng_state(), recipe=recipe.to_dict())
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        emit(CheckpointSaved(step, str(run.save_checkpoint(state))))

    emit(RunStarted(recipe=recipe.to_dict(), dataset=data.name, device=str(device), n_train=n_train,
                    n_test=len(data.test_x), parameters=sum(p.numel() for p in model.parameters()),
                    start_step=step, run_dir=str(run.path) if run else "", time=time.time()))
    status, message = "completed", ""
    # loss.item() syncs an accelerator (and all ranks): on CPU alone a NaN is caught at once, else within train_every
    check_every = 1 if device.type == "cpu" and dist is None else recipe.train_every
    augment = max(recipe.augment_shift, recipe.augment_rotate, recipe.augment_scale) > 0
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda" and recipe.bf16)
    if dist is not None:
        control = dist.control(control, check_every)  # stop/pause agreed by all ranks
    t0 = time.perf_counter() - elapsed
    model.train()
    try:
        with stop_on_sigint(control):
            while step < recipe.iterations:
                t0 += control.wait_while_paused()
                if control.stop_requested:
                    status, message = "interrupted", "stopped on request"
                    break
                if pos + recipe.batch_size > n_train:  # new epoch; the incomplete last batch is dropped
                    perm, pos = torch.randperm(n_train, generator=gen), 0
                    perm_dev = perm.to(device)
                idx = perm_dev[pos:pos + recipe.batch_size]
                pos += recipe.batch_size
                mine = idx if dist is None else dist.shard(idx)  # (B,) or this rank's (B / world,)
                x, y = data.train_x[mine], data.train_y[mine]  # (B,1,28,28), (B,)
                if augment:
                    x = random_affine(x, recipe.augment_shift, recipe.augment_rotate, recipe.augment_scale)
                lr = recipe.lr(step)
                for g in opt.param_groups:
                    g["lr"] = lr

                acts: list = []
                hooks = _activation_hooks(model, acts) if second == "activations" and (step + 1) % recipe.bands_every == 0 else []
                with autocast:
                    logits = forward(x)  # (B, 10)
                    loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
                for h in hooks:
                    h.remove()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1

                if step % check_every == 0 or step % recipe.train_every == 0:
                    loss_value = loss.item() if dist is None else dist.mean(loss)  # CPU-GPU sync point
                    if not math.isfinite(loss_value):
                        raise Diverged(
                            f"the loss became {loss_value} at step {step}. Usual causes: a learning rate too "
                            f"high for this network (lr now {lr:.3g}; try a smaller --lr-max), or log(0) in a "
                            "hand-written loss (compute the cross-entropy from logits, as mnistlab does). "
                            "The last good checkpoint is kept.")
                    if step % recipe.train_every == 0:
                        correct = (logits.argmax(1) == y).float().mean()
                        accuracy = correct.item() if dist is None else dist.mean(correct)
                        emit(TrainUpdate(step, loss_value, accuracy, lr, time.perf_counter() - t0))
                if step % recipe.digits_every == 0:
                    pred = logits.argmax(1) if dist is None else dist.gather(logits.argmax(1))
                    emit(DigitBatch(step, idx.tolist(), pred.tolist()))
                if step % recipe.bands_every == 0:
                    emit(Bands(step, percentile_bands(weights), percentile_bands(acts if acts else biases), second))
                if (step % recipe.eval_every == 0 and step >= recipe.eval_from) or step == recipe.iterations:
                    test_loss, test_acc, pred = (dist.evaluate if dist else evaluate)(model, data.test_x, data.test_y)
                    seconds = time.perf_counter() - t0  # the evaluation counts as training time
                    tests.append((step, seconds, test_loss, test_acc))
                    emit(TestUpdate(step, test_loss, test_acc, seconds, mistakes(pred, data.test_y)))
                if run is not None and (step % recipe.checkpoint_every == 0 or step == recipe.iterations):
                    checkpoint()
    except Diverged as e:
        status, message = "diverged", str(e)
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted (Ctrl-C)"
    if status == "interrupted" and run is not None:
        checkpoint()  # between steps, so consistent; `--resume` continues from here
    summary = make_summary(recipe, data.name, device, step, time.perf_counter() - t0, tests, status)
    summary["peak_memory_mb"] = peak_memory_mb(device)
    if dist is not None:
        summary.update(world_size=dist.world, backend=dist.backend)
    if run is not None:
        run.write_summary(summary)
    emit(RunEnded(step, status, message, summary))
    for s in sinks:
        s.close()
    if status == "diverged":
        raise Diverged(message)
    return RunResult(status, summary, model, run.path if run else None, tests)


def make_summary(recipe: Recipe, dataset: str, device, step: int, seconds: float, tests: list, status: str) -> dict:
    accs = [t[3] for t in tests]
    return dict(
        recipe=recipe.name, step_name=recipe.step, dataset=dataset, seed=recipe.seed, status=status,
        iterations=step, device=str(device), device_name=device_name(device), torch=torch.__version__,
        mnistlab=__version__, threads=torch.get_num_threads(),
        max_test_accuracy=max(accs, default=None), final_test_accuracy=accs[-1] if accs else None,
        final_test_loss=tests[-1][2] if tests else None, wall_seconds=round(seconds, 3),
        steps_per_second=round(step / seconds, 2) if seconds > 0 else None,
        time_to_accuracy=time_to_accuracy([(t[1], t[3]) for t in tests], THRESHOLDS),
        course_accuracy=recipe.course_accuracy or None,
    )


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: the most memory PyTorch held on the GPU; CPU: the process's peak resident memory (all of it:
    Python, torch, the dataset), the figure a user sees in `top`."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    import resource
    import sys
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    try:  # Linux: the CPU's marketing name, the figure a reader compares with their laptop
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine()
