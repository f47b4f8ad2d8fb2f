"""Data augmentation on the training device: a random shift, rotation and zoom of every image, batched.

One affine_grid + grid_sample call per batch, no per-image Python, the same on CPU and GPU. It uses the
global torch RNG of the batch's device, which the checkpoint saves, so a resumed run sees the same images.
Cost: a bilinear sample per output pixel, small next to the forward pass of any conv net.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, shift: float = 0.0, rotate: float = 0.0, scale: float = 0.0) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): each image moved by up to `shift` pixels in x and y, turned by up to
    `rotate` degrees and zoomed by a factor in [1 - scale, 1 + scale]; pixels from outside are 0 (background)."""
    b, dev = x.shape[0], x.device

    def uniform(*shape):  # in [-1, 1)
        return torch.rand(*shape, device=dev) * 2 - 1

    angle = uniform(b) * math.radians(rotate)
    zoom = 1 + uniform(b) * scale
    move = uniform(b, 2) * (2 * shift / x.shape[-1])  # grid coordinates span 2 across the image's W pixels
    # theta maps each output pixel to where it samples the input: rotation by `angle`, divided by the zoom
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1),
                         torch.stack([sin, cos, move[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
