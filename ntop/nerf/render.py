"""Volume rendering of the posed human: rays -> samples near the body (``sampling``) -> canonical
space by inverse skinning (``deform``) -> the field -> composited front to back (``volrend``).

Works with any ``ntop.cameras`` model because it only needs rays. :func:`render_image` is the API
later stages use: any camera, any pose, in chunks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.cameras import Camera
from ntop.nerf.deform import PoseVolumes, canonical_transforms, inverse_lbs, pose_volumes, sample_normals, sample_weights
from ntop.nerf.field import CanonicalField
from ntop.nerf.sampling import ray_box, sample_rays, sample_surface
from ntop.nerf.volrend import composite

__all__ = ["PosedFrames", "posed_frames", "RenderOutput", "render_rays", "render_views", "render_image"]


@dataclass
class PosedFrames:
    """What rendering needs per frame: volumes, canonical -> posed transforms and the body pose."""

    volumes: PoseVolumes
    transforms: torch.Tensor  # (T, 24, 4, 4)
    body_pose: torch.Tensor  # (T, 69)

    def to(self, device: torch.device | str) -> "PosedFrames":
        v = self.volumes
        return PosedFrames(
            PoseVolumes(v.grid.to(device), v.lo.to(device), v.hi.to(device)),
            self.transforms.to(device),
            self.body_pose.to(device),
        )


def posed_frames(
    body: BodyModel,
    betas: torch.Tensor,
    global_orient: torch.Tensor,
    body_pose: torch.Tensor,
    transl: torch.Tensor,
    resolution: int = 32,
    offsets: torch.Tensor | None = None,
) -> PosedFrames:
    """Everything needed to render the subject in these poses (SMPL parameters and personal offsets,
    world frame)."""
    with torch.no_grad():
        out = body(global_orient, body_pose, betas, transl, offsets)
        M, _ = canonical_transforms(body, betas, global_orient, body_pose, transl)
    vol = pose_volumes(out.vertices.double().numpy(), body.faces.numpy(), body.weights.double().numpy(), resolution)
    return PosedFrames(vol, M.float(), body_pose.reshape(-1, 69).float())


@dataclass
class RenderOutput:
    rgb: torch.Tensor  # (R, 3) composited over the background
    alpha: torch.Tensor  # (R,) accumulated opacity
    depth: torch.Tensor  # (R,) expected distance along the ray where alpha > 0, else 0
    offset_sq: torch.Tensor  # scalar: mean squared residual offset (a regulariser)
    outside: torch.Tensor  # scalar: mean opacity of samples outside the SMPL surface (a prior)
    inside: torch.Tensor  # scalar: mean transparency of samples inside it (a prior for parts no camera saw)


def render_rays(
    field: CanonicalField,
    posed: PosedFrames,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    frame: torch.Tensor,
    background: torch.Tensor,
    samples: int = 64,
    perturb: bool = False,
) -> RenderOutput:
    """Render rays ``(R, 3)`` of frames ``(R,)``; ``background`` is ``(3,)`` or ``(R, 3)``.

    Only samples in the field's support, from ``support_inside`` metres inside the SMPL surface to
    ``support_outside`` outside it, reach the network: the body can grow that much beyond SMPL
    (clothing, hair), no more.
    """
    R = len(origins)
    support = (field.cfg.support_inside, field.cfg.support_outside)
    if field.cfg.surface:
        smp = sample_surface(posed.volumes, origins, dirs, frame, field.cfg.surface_spacing_m, support, perturb)
    else:
        smp = sample_rays(posed.volumes, origins, dirs, frame, samples, support, perturb)
    x_c = inverse_lbs(smp.points, sample_weights(posed.volumes, smp.frame, smp.points), smp.frame, posed.transforms)
    normals = sample_normals(posed.volumes, smp.frame, smp.points) if field.cfg.shading else None
    sigma, rgb, off = field(x_c, posed.body_pose[smp.frame], normals)
    out = composite(sigma, rgb, smp.t, smp.delta, smp.ray, R)
    s = out.optical_depth
    offset_sq = (off**2).sum(-1).mean() if len(off) else origins.new_zeros(())
    outside = ((1 - torch.exp(-s)) * (smp.distance > 0)).mean() if len(s) else origins.new_zeros(())
    inside = (torch.exp(-s) * (smp.distance < 0)).mean() if len(s) else origins.new_zeros(())
    return RenderOutput(
        out.rgb + (1 - out.alpha[:, None]) * background.expand(R, 3), out.alpha, out.depth, offset_sq, outside, inside
    )


@torch.no_grad()
def render_views(
    field: CanonicalField,
    posed: PosedFrames,
    frame: int,
    cameras: list[Camera],
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    samples: int = 64,
    chunk: int = 16384,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one frame from several cameras of one size at once (rays batched across views).

    Returns RGB ``(V, H, W, 3)`` in [0, 1] composited over ``background``, alpha ``(V, H, W)`` and
    depth ``(V, H, W)`` (metres along the ray, 0 where nothing was hit).
    """
    device = field.lo.device
    H, W = cameras[0].height, cameras[0].width
    rays = [(_pixel_rays(cam.model, tuple(cam.K), tuple(cam.dist), W, H, cam.fov_deg, device), cam) for cam in cameras]
    dirs = torch.cat(
        [r @ torch.as_tensor(cam.R, dtype=torch.float32, device=device) for (r, _), cam in rays]
    )  # R^T on row vectors
    origins = torch.cat([torch.as_tensor(cam.center, dtype=torch.float32, device=device).expand(H * W, 3) for cam in cameras])
    valid = torch.cat([v for (_, v), _ in rays])
    lo, hi = posed.volumes.lo[frame], posed.volumes.hi[frame]
    _, _, hit = ray_box(origins, dirs, lo.expand(len(origins), 3), hi.expand(len(origins), 3))
    todo = torch.nonzero(hit & valid)[:, 0]
    bg = torch.tensor(background, dtype=torch.float32, device=device)
    rgb = bg.expand(len(origins), 3).clone()
    alpha = torch.zeros(len(origins), device=device)
    depth = torch.zeros(len(origins), device=device)
    for s in range(0, len(todo), chunk):
        idx = todo[s : s + chunk]
        out = render_rays(field, posed, origins[idx], dirs[idx], torch.full((len(idx),), frame, device=device), bg, samples)
        rgb[idx], alpha[idx], depth[idx] = out.rgb, out.alpha, out.depth
    V = len(cameras)
    return rgb.reshape(V, H, W, 3).cpu().numpy(), alpha.reshape(V, H, W).cpu().numpy(), depth.reshape(V, H, W).cpu().numpy()


@functools.lru_cache(maxsize=16)
def _pixel_rays(
    model: str, K: tuple, dist: tuple, width: int, height: int, fov_deg: float | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame unit rays ``(H * W, 3)`` of every pixel and their validity, on ``device``. Kept per
    lens: undistortion is iterative (0.1-0.4 s for 512x512 on a CPU, more than a GPU needs to render the
    frame), and every frame of a rig and every view with the same lens shares it."""
    cam = Camera(model, np.array(K), width, height, np.array(dist), fov_deg=fov_deg)
    rays, valid = cam.unproject(cam.pixel_grid(torch.zeros(0, dtype=torch.float64)))
    return rays.reshape(-1, 3).float().to(device), valid.reshape(-1).to(device)


def render_image(
    field: CanonicalField,
    posed: PosedFrames,
    frame: int,
    camera: Camera,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    samples: int = 64,
    chunk: int = 16384,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB ``(H, W, 3)`` in [0, 1], alpha ``(H, W)`` and depth ``(H, W)`` (metres along the ray)."""
    rgb, alpha, depth = render_views(field, posed, frame, [camera], background, samples, chunk)
    return rgb[0], alpha[0], depth[0]
