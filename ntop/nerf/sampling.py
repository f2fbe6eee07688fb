"""Where along each ray the field is asked: the frame's body box, stratified samples inside it, and
empty-space skipping (only samples in the field's support band around the posed SMPL surface reach
the network). Samples come out packed: one flat list, each ray's samples contiguous and in order."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ntop.nerf.deform import PoseVolumes, sample_distance

__all__ = ["ray_box", "RaySamples", "sample_rays", "sample_surface"]


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


def _strata(
    volumes: PoseVolumes, origins: torch.Tensor, dirs: torch.Tensor, frame: torch.Tensor, n: int, perturb: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` points per ray across its frame's body box, one per stratum (jittered with ``perturb``, else at
    the centres), with the distance to the body: the rays that cross the box, each one's stratum length,
    and per point ``t (R, n)``, ``points (R, n, 3)``, ``distance (R, n)``."""
    device, dtype = origins.device, origins.dtype
    near, far, hit = ray_box(origins, dirs, volumes.lo[frame], volumes.hi[frame])
    rays = torch.nonzero(hit)[:, 0]
    step = (far[rays] - near[rays]) / n
    k = torch.arange(n, device=device, dtype=dtype)
    shape = (len(rays), n)
    jitter = torch.rand(*shape, device=device, dtype=dtype) if perturb else torch.full(shape, 0.5, device=device, dtype=dtype)
    t = near[rays, None] + (k + jitter) * step[:, None]
    pts = origins[rays, None] + t[..., None] * dirs[rays, None]
    dist = sample_distance(volumes, frame[rays].repeat_interleave(n), pts.reshape(-1, 3)).reshape(shape)
    return rays, step, t, pts, dist


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
    rays, step, t, pts, dist = _strata(volumes, origins, dirs, frame, samples, perturb)
    ray_of = rays[:, None].expand(-1, samples).reshape(-1)
    dist = dist.reshape(-1)
    keep = torch.nonzero((dist > -support[0]) & (dist < support[1]))[:, 0]
    ray_of = ray_of[keep]
    return RaySamples(ray_of, frame[ray_of], t.reshape(-1)[keep], pts.reshape(-1, 3)[keep], dist[keep], step[keep // samples])


def sample_surface(
    volumes: PoseVolumes,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    frame: torch.Tensor,
    spacing: float,
    support: tuple[float, float],
    perturb: bool = False,
    probes: int = 96,
) -> RaySamples:
    """Samples every ``spacing`` metres (jittered with ``perturb``) along the part of each ray that lies
    from ``support[0]`` inside the posed surface to ``support[1]`` outside it, up to where the ray first
    goes deeper than ``support[0]``: a surface-bound field is opaque there, and nothing behind shows.

    Where the band is is found first by ``probes`` distance lookups per ray (no network): a thin shell
    gets samples a few millimetres apart, as many as its width needs, where stratified samples across the
    whole box would leave it a few centimetres apart. 96 probes leave about 2 cm between them across a
    body's 2 m box: a ray that meets the surface of a 1 cm finger spends over 5 cm in the band, so none
    is missed; a render spends most of its time on rays that miss the body, probing."""
    device, dtype = origins.device, origins.dtype
    rays, h, t_probe, _, d = _strata(volumes, origins, dirs, frame, probes)  # h: each ray's probe cell
    deep = d <= -support[0]
    before_deep = torch.cumsum(deep.to(torch.int32), 1) == 0
    band = (d < support[1]) & before_deep
    cells = band.sum(1)  # in-band cells per ray
    count = torch.ceil(cells * h / spacing).long()  # samples per ray
    total = int(count.sum())
    empty = torch.zeros(0, device=device, dtype=dtype)
    if total == 0:
        return RaySamples(rays[:0], frame[:0], empty, empty.reshape(0, 3), empty, empty)
    owner = torch.repeat_interleave(torch.arange(len(rays), device=device), count)  # index into ``rays``
    first = torch.cumsum(count, 0) - count
    j = torch.arange(total, device=device) - first[owner]  # the sample's number within its ray
    jitter = torch.rand(total, device=device, dtype=dtype) if perturb else torch.full((total,), 0.5, device=device, dtype=dtype)
    length = cells[owner] * h[owner]
    s = (j + jitter) * length / count[owner]  # arc length along the ray's in-band cells
    cell = torch.clamp((s / h[owner]).long(), max=cells[owner] - 1)  # the how-manieth in-band cell
    starts = t_probe[band] - 0.5 * h.repeat_interleave(cells)  # in-band cells' starts, ray by ray, in order
    t = starts[(torch.cumsum(cells, 0) - cells)[owner] + cell] + (s - cell * h[owner])
    ray_of = rays[owner]
    points = origins[ray_of] + t[:, None] * dirs[ray_of]
    dist = sample_distance(volumes, frame[ray_of], points)
    return RaySamples(ray_of, frame[ray_of], t, points, dist, length / count[owner])
