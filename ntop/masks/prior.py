"""The SMPL prior of a mask: the posed body's silhouette in each camera, and where it is surely person."""

from __future__ import annotations

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import SmplSequence
from ntop.cameras import Camera
from ntop.masks.background import dilate
from ntop.raster import rasterize

__all__ = ["posed_vertices", "silhouettes", "erode"]


def posed_vertices(body: BodyModel, seq: SmplSequence) -> torch.Tensor:
    with torch.no_grad():
        return body.pose(seq.params()).vertices


def silhouettes(body: BodyModel, verts: torch.Tensor, cam: Camera, chunk: int = 16) -> np.ndarray:
    """``(T, H, W) bool``: where the posed body ``verts (T, V, 3)`` (world) covers the camera's pixels."""
    K = torch.as_tensor(cam.K, dtype=torch.float32)[None]
    dist = torch.as_tensor(cam.dist, dtype=torch.float32)[None]
    out = []
    for s in range(0, len(verts), chunk):
        v = cam.world_to_camera(verts[s : s + chunk])
        frags = rasterize(
            v, body.faces, cam.model, K.expand(len(v), -1), dist.expand(len(v), -1), cam.width, cam.height, cam.fov_deg
        )
        out.append(frags.mask.numpy())
    return np.concatenate(out) if out else np.zeros((0, cam.height, cam.width), bool)


def erode(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Shrink by ``fraction`` of the image's shorter side (the inverse of ``background.dilate``)."""
    return ~dilate(~mask, fraction)
