"""Data-parallel training under torchrun: one process per device, each training on its slice of every
global batch, gradients averaged by DistributedDataParallel.

    torchrun --nproc-per-node 2 -m mnistlab train 3.1         # 2 CPU processes (gloo) or 2 GPUs (NCCL)
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 --nproc-per-node 4 -m mnistlab train 4.2

What stays the same as one process (the same recipe gives the same curve, up to float noise):
- `batch_size` is the GLOBAL batch. Every rank draws the same permutation from the seeded CPU generator and
  takes its contiguous slice of B / world images (an index slice: no per-sample work). A batch that does not
  split evenly is an error before training.
- DDP averages the gradients, so each step follows the gradient of the mean loss over the global batch and a
  learning rate means what it means in one process. The checkpoint holds the global batch order, so a run
  can be resumed with another number of ranks.
What differs:
- Dropout: each rank reseeds its torch RNG from (seed, rank, start step), so shards get independent masks;
  the masks differ from a one-process run and a resumed run is not bit-identical to an uninterrupted one.
- Batch norm: on GPUs SyncBatchNorm (statistics over the global batch, as in one process). gloo has no
  SyncBatchNorm, so CPU ranks normalise over their own B / world images and rank 0's moving averages win
  (DDP broadcasts them each step): batch-norm curves on CPU ranks differ slightly from one process.
Who does what:
- The dashboard's training figures are global (loss and accuracy averaged over ranks, the digit panel
  gathers every rank's predictions); only the activation bands of batch-norm nets are rank 0's slice.
- Evaluation uses every rank: each evaluates its contiguous 1/world of the test set and an all-reduce sums
  losses and predictions, so every rank holds the whole result in 1/world of the time.
- Only rank 0 has a run dir, sinks, a display and a console. Stop and pause requests from any rank, and the
  loss (for the NaN check), are exchanged every `train_every` steps, so all ranks stop at the same step and
  rank 0's checkpoint is consistent. Per step the only collective is DDP's gradient all-reduce.
- Resume: rank 0 reads its run dir and broadcasts config and checkpoint (no shared disk needed).
"""
from __future__ import annotations

import os
import time

# Nothing heavy at module level: the CLI imports this to know whether it is rank 0.


def launched() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when torchrun started several processes, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 under torchrun, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """This rank's contiguous [lo, hi) of n items; sizes differ by at most one."""
    return n * rank // world, n * (rank + 1) // world


def check_batch(batch_size: int, world: int) -> None:
    if batch_size % world:
        lower, higher = batch_size - batch_size % world, batch_size + world - batch_size % world
        raise ValueError(f"--batch-size {batch_size} is the global batch and must split evenly over the {world} "
                         f"ranks; use {lower or higher} or {higher}, or another --nproc-per-node")


class PeerFailed(Exception):
    """On ranks > 0: rank 0 could not set up the run; it says why and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Distributed:
    """The process group and every collective the loop needs; one per process, made by start()."""

    def __init__(self, rank: int, world: int, local_rank: int, device, backend: str):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.device, self.backend = device, backend

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device: str = "auto") -> "Distributed | None":
        """Join the process group when torchrun started several processes; None for a plain process."""
        env = launched()
        if env is None:
            return None
        rank, world, local_rank = env
        import torch
        import torch.distributed as td
        if device in ("auto", "cuda") and torch.cuda.is_available():
            dev, backend = torch.device("cuda", local_rank), "nccl"
            torch.cuda.set_device(dev)
        elif device in ("auto", "cpu"):
            dev, backend = torch.device("cpu"), "gloo"
        else:
            message = (f"--device {device} under torchrun: distributed training runs on cpu (gloo) or cuda (NCCL)"
                       + ("; no CUDA GPU is visible" if device == "cuda" else ""))
            raise ValueError(message) if rank == 0 else PeerFailed(message, 2)  # rank 0 says it
        if not td.is_initialized():  # MASTER_ADDR/PORT, RANK, WORLD_SIZE come from torchrun's environment
            td.init_process_group(backend, device_id=dev if backend == "nccl" else None)
        return cls(rank, world, local_rank, dev, backend)

    def close(self) -> None:
        import torch.distributed as td
        if td.is_initialized():
            td.destroy_process_group()

    # -- setup: rank 0 decides, the others follow ---------------------------------------------------------
    def broadcast(self, obj):
        """Rank 0's `obj` on every rank (pickled; keep tensors on the CPU)."""
        import torch.distributed as td
        box = [obj]
        td.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        return box[0]

    def share_setup(self, error: BaseException | None = None, **setup) -> None:
        """Rank 0: send the resolved recipe and data source, or the error that stopped it."""
        if error is not None:
            code = 2 if isinstance(error, (ValueError, KeyError)) else 1  # as cli.main maps them
            self.broadcast({"error": f"{type(error).__name__}: {error}", "exit_code": code})
        else:
            self.broadcast(setup)

    def follow(self, *, model=None, control=None):
        """Ranks > 0: take rank 0's setup, load the same data, train without run dir or sinks."""
        from .data import load
        from .loop import fit
        from .recipes import Recipe
        setup = self.broadcast(None)
        if "error" in setup:
            raise PeerFailed(f"rank 0 failed before training: {setup['error']}", setup["exit_code"])
        check_batch(setup["recipe"]["batch_size"], self.world)
        data = load(setup["dataset"], setup["data_dir"])
        return fit(Recipe.from_dict(setup["recipe"]), data, [], run=None, device=self.device, control=control,
                   model=model, resume=setup["resume"], dist=self)

    # -- the training step ------------------------------------------------------------------------------
    def wrap(self, model):
        """(model, DDP wrapper for the training forward). On GPUs batch norm becomes SyncBatchNorm in place
        (same parameter and buffer tensors, so the optimiser and state_dict keys are unchanged)."""
        import torch.nn as nn
        from torch.nn.parallel import DistributedDataParallel as DDP
        if self.backend == "nccl":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # DDP broadcasts rank 0's buffers (batch-norm averages) before each forward: on CPU rank 0's win.
        return model, DDP(model, device_ids=[self.device.index] if self.backend == "nccl" else None)

    def seed_rank(self, seed: int, step: int) -> None:
        """Independent dropout masks per rank, reproducible for a given start step."""
        import torch
        torch.manual_seed(hash((seed, self.rank, step)) & ((1 << 63) - 1))

    def shard(self, idx):
        """This rank's contiguous slice of the global batch's indices (B,) -> (B / world,)."""
        lo, hi = shard_bounds(len(idx), self.rank, self.world)
        return idx[lo:hi]

    def mean(self, value) -> float:
        """The mean over ranks of a scalar tensor (a CPU-GPU sync point)."""
        import torch.distributed as td
        t = value.detach().float().reshape(1).clone()
        td.all_reduce(t)
        return t.item() / self.world

    def gather(self, t):
        """Every rank's (b, ...) tensor concatenated in rank order: (world * b, ...)."""
        import torch
        import torch.distributed as td
        parts = [torch.empty_like(t) for _ in range(self.world)]
        td.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def evaluate(self, model, x, y):
        """metrics.evaluate over the whole set, each rank doing its 1/world: (loss, accuracy, predictions)."""
        import torch
        import torch.distributed as td
        from .metrics import evaluate
        for b in model.buffers():  # batch-norm averages: rank 0's, so every slice sees the same model
            td.broadcast(b, 0)
        lo, hi = shard_bounds(len(x), self.rank, self.world)
        loss, _, pred = evaluate(model, x[lo:hi], y[lo:hi])
        full = torch.zeros(len(x), dtype=torch.long, device=x.device)
        full[lo:hi] = pred
        loss_sum = torch.tensor([loss * (hi - lo)], dtype=torch.float64, device=x.device)
        td.all_reduce(full)  # each position is set by exactly one rank
        td.all_reduce(loss_sum)
        return loss_sum.item() / len(x), (full == y).float().mean().item(), full

    def control(self, control, every: int) -> "SyncedControl":
        return SyncedControl(control, self, every)


class SyncedControl:
    """The loop's view of a Control under torchrun: stop and pause are agreed by all ranks.

    Requests (Ctrl-C, dashboard keys) land on one rank's Control; every `every` calls of
    wait_while_paused() the ranks all-reduce (stop, paused) flags. While any rank is paused all of them poll
    every 50 ms (cheap, and no collective blocks long enough to hit the process-group timeout). The loop only
    sees `stop_requested` once agreed, so every rank breaks at the same step.
    """

    def __init__(self, control, dist: Distributed, every: int):
        self.inner, self.dist, self.every = control, dist, max(1, every)
        self.stop_requested = False  # agreed by all ranks
        self._calls = 0

    @property
    def paused(self) -> bool:
        return self.inner.paused

    def stop(self):  # stop_on_sigint: a second Ctrl-C before the ranks agreed is the same request
        self.inner.stop()

    def _flags(self) -> tuple[float, float]:
        import torch
        import torch.distributed as td
        t = torch.tensor([float(self.inner.stop_requested), float(self.inner.paused)], device=self.dist.device)
        td.all_reduce(t)
        stop, paused = t.tolist()
        return stop, paused

    def wait_while_paused(self) -> float:
        self._calls += 1
        if (self._calls - 1) % self.every:  # the first step of a run, then every `every`
            return 0.0
        waited = 0.0
        while True:
            stop, paused = self._flags()
            if stop:
                self.stop_requested = True
                self.inner.stop()
                return waited
            if not paused:
                return waited
            t = time.perf_counter()
            time.sleep(0.05)
            waited += time.perf_counter() - t
