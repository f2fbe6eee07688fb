"""A silhouette term for the body fit: the posed mesh's outline should follow the foreground masks.

Keypoints say where the joints are but little about the body's girth; the masks the NeRF learns from
say exactly that. Each mask becomes a signed distance map (pixels; positive outside the person,
negative inside), stored as int8 in quarter pixels so that long captures fit in memory. Two costs,
both robust (Geman-McClure, at most ``sigma^2`` per point):

- every vertex (of a fixed sparse subset: one in ``stride``) must project inside the mask (the body is
  never wider than the person);
- the vertices on the body's own outline in that camera (found by rasterizing the current fit, every
  round) must lie as far from the mask's boundary as from that outline (the body is never thinner
  either). Both distances come from pixel masks by the same transform, so their biases cancel.

The outline is held fixed while L-BFGS runs and found again between rounds; the term itself is a
differentiable function of the vertices (bilinear lookups of the distance maps).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ntop.cameras import Camera
from ntop.cameras import project as project_points
from ntop.fit.robust import geman_mcclure
from ntop.raster import rasterize

__all__ = ["SilhouetteTerm", "signed_distance"]

QUARTER = 4.0  # distance-map units per pixel
CLIP = 127 / QUARTER  # pixels: farther than this counts the same (the cost is saturated long before)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """``(H, W) int8``: distance to the mask's boundary in quarter pixels, positive outside, negative inside."""
    m = mask.astype(np.uint8)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)  # 0 inside
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)  # 0 outside
    d = np.where(m > 0, 0.5 - inside, outside - 0.5)  # the boundary lies between pixel centres
    return np.clip(np.round(d * QUARTER), -127, 127).astype(np.int8)


def _shrink(masks: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(T, H, W) bool`` masks at another resolution (area average, half coverage is person)."""
    if masks.shape[1:] == (height, width):
        return masks
    return np.stack([cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) >= 0.5 for m in masks])


class SilhouetteTerm:
    """Masks of ``T`` frames in several cameras; ``masks[c]`` is ``(T, H, W) bool`` for ``cameras[c]``.

    Cameras larger than ``max_side`` pixels are worked on at a reduced resolution (memory: one byte per
    pixel and frame); distances are still reported in the camera's own pixels."""

    def __init__(
        self,
        cameras: list[Camera],
        masks: list[np.ndarray],
        faces: torch.Tensor,
        sigma_px: float = 4.0,
        device: torch.device | str = "cpu",
        stride: int = 4,
        max_side: int = 512,
    ):
        self.sigma, self.device, self.stride = sigma_px, torch.device(device), stride
        self.faces = faces.to(self.device)
        scales = [min(1.0, max_side / max(cam.width, cam.height)) for cam in cameras]
        self.cameras = [cam.scaled(s) if s < 1 else cam for cam, s in zip(cameras, scales)]
        self.unit = [1 / s for s in scales]  # camera pixels per working pixel
        self.maps = [
            torch.as_tensor(np.stack([signed_distance(m) for m in _shrink(cam_masks, cam.width, cam.height)]), device=self.device)
            for cam, cam_masks in zip(self.cameras, masks)
        ]
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)  # noqa: E731
        self._cams = [
            (cam.model, f32(cam.R), f32(cam.t), f32(cam.K)[None], f32(cam.dist)[None], cam.fov_deg) for cam in self.cameras
        ]
        self.outline: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def _pixels(self, c: int, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        model, R, t, K, dist, fov = self._cams[c]
        return project_points(model, vertices @ R.T + t, K, dist, fov_deg=fov)

    @staticmethod
    def _lookup(maps: torch.Tensor, px: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Bilinear signed distance (pixels) at ``px (..., 2)`` in ``maps (T, H, W)`` of frames ``frame``
        (broadcast against ``px[..., 0]``); beyond the image, the edge's value."""
        T, H, W = maps.shape
        x = px[..., 0].clamp(0, W - 1.001)
        y = px[..., 1].clamp(0, H - 1.001)
        x0, y0 = x.detach().floor().long(), y.detach().floor().long()
        fx, fy = x - x0, y - y0
        flat, base = maps.reshape(-1), frame * (H * W)

        def at(dy: int, dx: int) -> torch.Tensor:
            return flat[base + (y0 + dy) * W + (x0 + dx)].float()

        top = at(0, 0) * (1 - fx) + at(0, 1) * fx
        bottom = at(1, 0) * (1 - fx) + at(1, 1) * fx
        return (top * (1 - fy) + bottom * fy) / QUARTER

    @torch.no_grad()
    def select(self, vertices: torch.Tensor) -> None:
        """Find each frame's outline vertices in every camera, those within a pixel of the boundary of the
        body's own rasterized silhouette, and their signed distance to it: the target is the same
        distance to the mask's boundary (the vertices sit up to a pixel inside the outline they draw,
        and the offset keeps that from inflating the body)."""
        self.outline = []
        frames = torch.arange(len(vertices), device=self.device)[:, None]
        for c, cam in enumerate(self.cameras):
            model, R, t, K, dist, fov = self._cams[c]
            v_cam = vertices @ R.T + t
            frags = rasterize(
                v_cam, self.faces, model, K.expand(len(v_cam), -1), dist.expand(len(v_cam), -1), cam.width, cam.height, fov
            )
            own = torch.as_tensor(np.stack([signed_distance(s) for s in frags.mask.cpu().numpy()]), device=self.device)
            px, valid = self._pixels(c, vertices)
            d = self._lookup(own, px, frames) * self.unit[c]
            t_idx, v_idx = (valid & (d.abs() <= self.unit[c])).nonzero(as_tuple=True)
            self.outline.append((t_idx, v_idx, d[t_idx, v_idx]))

    def __call__(self, vertices: torch.Tensor) -> torch.Tensor:
        """Robust cost in squared pixels: the mean over vertices (a fixed sparse subset) that fall outside
        the masks plus the mean over outline vertices off the masks' boundary."""
        T = len(vertices)
        frames = torch.arange(T, device=vertices.device)[:, None]
        sparse = vertices[:, :: self.stride]
        outside, seen, off, ring_count = vertices.new_zeros(()), 0.0, vertices.new_zeros(()), 0
        for c in range(len(self.cameras)):
            px, valid = self._pixels(c, sparse)
            d = (self._lookup(self.maps[c], px, frames) * self.unit[c]).clamp(-CLIP, CLIP)
            w = valid.float()
            outside = outside + (w * geman_mcclure(torch.relu(d) ** 2, self.sigma)).sum()
            seen += float(w.sum())
            if self.outline:
                t_idx, v_idx, offset = self.outline[c]
                px, _ = self._pixels(c, vertices[t_idx, v_idx])
                d = (self._lookup(self.maps[c], px, t_idx) * self.unit[c]).clamp(-CLIP, CLIP)
                off = off + geman_mcclure((d - offset) ** 2, self.sigma).sum()
                ring_count += len(t_idx)
        return outside / max(seen, 1.0) + off / max(ring_count, 1)
