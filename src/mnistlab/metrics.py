"""Measurements that return data and draw nothing: test evaluation, percentile bands, time to accuracy."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

N_BANDS = 7                # the course's 7 percentile bands, each holding 1/7 of the values
MAX_BAND_SAMPLES = 1 << 18  # quantiles of a strided sample: cost O(n log n) on at most 262k values


def eval_batch(device: torch.device) -> int:
    """Images per forward pass when testing. On a CPU, slices of 500 keep the activations in cache: a test
    pass of the bn_cnn nets is twice as fast as in slices of 2,000. A GPU wants few, large launches."""
    return 500 if device.type == "cpu" else 5000


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int | None = None) -> tuple[float, float, torch.Tensor]:
    """(mean cross-entropy, accuracy, predicted classes (N,)) over the whole set, in eval mode."""
    batch = batch or eval_batch(x.device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    preds = []
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch]).float()  # (b, 10)
        loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum")
        preds.append(logits.argmax(1))
    model.train(was_training)
    pred = torch.cat(preds)
    accuracy = (pred == y).float().mean()
    return loss_sum.item() / len(x), accuracy.item(), pred  # .item(): one CPU-GPU sync per evaluation


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """(N, 10) softmax outputs of `model` (in eval mode) over the whole set, float32."""
    batch = batch or eval_batch(x.device)
    model.eval()
    return torch.cat([torch.softmax(model(x[i:i + batch]).float(), 1) for i in range(0, len(x), batch)])


def mistakes(pred: torch.Tensor, y: torch.Tensor) -> list[list[int]]:
    """[[index, predicted], ...] of every misclassified example: all the panels need, ~100 pairs at 99%."""
    wrong = (pred != y).nonzero().flatten()
    return torch.stack([wrong, pred[wrong]], 1).tolist()


@torch.no_grad()
def percentile_bands(tensors: list[torch.Tensor]) -> list[float]:
    """8 boundaries (min, 1/7, ..., 6/7 quantiles, max) of all values together: 7 equal-count bands."""
    if not tensors:
        return [0.0] * (N_BANDS + 1)
    values = torch.cat([t.detach().float().flatten() for t in tensors])
    if values.numel() > MAX_BAND_SAMPLES:
        values = values[:: -(-values.numel() // MAX_BAND_SAMPLES)]
    q = torch.linspace(0, 1, N_BANDS + 1, device=values.device)
    return torch.quantile(values, q).tolist()


def time_to_accuracy(tests: list[tuple[float, float]], thresholds) -> dict[str, float | None]:
    """From (seconds, accuracy) pairs in time order: seconds to the first one at or above each threshold."""
    out: dict[str, float | None] = {}
    for thr in thresholds:
        out[str(thr)] = next((round(s, 3) for s, acc in tests if acc >= thr), None)
    return out
