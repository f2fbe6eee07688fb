"""Where along each ray the field is asked: the frame's body box, stratified samples inside it, and
empty-space skipping (only samples in the field's support band around the posed SMPL surface reach
the network). Samples come out packed: one flat list, each ray's samples contiguous and in order."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ntop.nerf.deform import PoseVolumes, sample_distance

__all__ = ["ray_box", "RaySamples", "sample_rays"]


def ray_box(
    origins: torch.Tensor, dirs: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test: entry and exit distances and whether the ray meets the box (per ray boxes)."""
    inv = 1 / torch.where(dirs.abs() > 1e-12, dirs, torch.full_like(dirs, 1e-12))
    t0, t1 = (lo - origins) * inv, (hi - origins) * inv
    near = torch.minimum(t0, t1).amax(-1).clamp(min=0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far, far > near


@dataclass
class RaySamples:
    """Packed samples: the ray and frame each belongs to, its distance along the ray, its world point,
    its signed distance to the posed SMPL surface and the ray's sample spacing."""

    ray: torch.Tensor  # (N,) index into the rays
    frame: torch.Tensor  # (N,)
    t: torch.Tensor  # (N,) metres along the ray
    points: torch.Tensor  # (N, 3) world
    distance: torch.Tensor  # (N,) signed distance to the body (negative inside)
    delta: torch.Tensor  # (N,) the ray's spacing between samples


def sample_rays(
    volumes: PoseVolumes,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    frame: torch.Tensor,
    samples: int,
    support: tuple[float, float],
    perturb: bool = False,
) -> RaySamples:
    """``samples`` stratified points per ray across its frame's body box (jittered with ``perturb``,
    else at the strata's centres), keeping those from ``support[0]`` metres inside the SMPL surface to
    ``support[1]`` outside it."""
    device, dtype = origins.device, origins.dtype
    near, far, hit = ray_box(origins, dirs, volumes.lo[frame], volumes.hi[frame])
    rays = torch.nonzero(hit)[:, 0]
    step = (far[rays] - near[rays]) / samples
    k = torch.arange(samples, device=device, dtype=dtype)
    shape = (len(rays), samples)
    jitter = torch.rand(*shape, device=device, dtype=dtype) if perturb else torch.full(shape, 0.5, device=device, dtype=dtype)
    t = near[rays, None] + (k + jitter) * step[:, None]
    pts = origins[rays, None] + t[..., None] * dirs[rays, None]
    ray_of = rays[:, None].expand(-1, samples).reshape(-1)
    f_of = frame[ray_of]
    dist = sample_distance(volumes, f_of, pts.reshape(-1, 3))
    keep = torch.nonzero((dist > -support[0]) & (dist < support[1]))[:, 0]
    ray_of = ray_of[keep]
    delta = ((far - near) / samples)[ray_of]
    return RaySamples(ray_of, f_of[keep], t.reshape(-1)[keep], pts.reshape(-1, 3)[keep], dist[keep], delta)
