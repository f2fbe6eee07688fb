"""Front-to-back compositing of packed samples (each ray's samples contiguous and in order)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Composite", "composite"]


@dataclass
class Composite:
    rgb: torch.Tensor  # (R, 3) accumulated colour, without background
    alpha: torch.Tensor  # (R,) accumulated opacity
    depth: torch.Tensor  # (R,) expected distance along the ray where alpha > 0, else 0
    optical_depth: torch.Tensor  # (N,) sigma * delta of every sample


def composite(
    sigma: torch.Tensor, rgb: torch.Tensor, t: torch.Tensor, delta: torch.Tensor, ray: torch.Tensor, n_rays: int
) -> Composite:
    """Alpha-composite samples ``(N,)`` of ``n_rays`` rays: transmittance from the exclusive cumulative
    optical depth within each ray, weights ``T * (1 - exp(-sigma delta))``.

    The running sum runs over the whole batch and each ray subtracts its start, in float64: in float32 a
    batch whose field has grown opaque (sigma delta up to 1e5 per sample) sums past 1e9, the difference
    loses its sign, and exp(-depth) of a negative depth sent a monocular training's loss to 1e24."""
    device, dtype = t.device, t.dtype
    s = sigma * delta
    cs = torch.cumsum(s.double(), 0)
    first = torch.ones_like(ray, dtype=torch.bool)
    first[1:] = ray[1:] != ray[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(ray), device=device), torch.zeros_like(ray)), 0).values
    excl = (cs - s - (cs - s)[start]).clamp(min=0).to(dtype)
    w = torch.exp(-excl) * (1 - torch.exp(-s))
    acc = torch.zeros(n_rays, device=device, dtype=dtype).index_add_(0, ray, w)
    col = torch.zeros(n_rays, 3, device=device, dtype=dtype).index_add_(0, ray, w[:, None] * rgb)
    dep = torch.zeros(n_rays, device=device, dtype=dtype).index_add_(0, ray, w * t)
    depth = torch.where(acc > 1e-4, dep / acc.clamp(min=1e-4), torch.zeros_like(dep))
    return Composite(col, acc, depth, s)
