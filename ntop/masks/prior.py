"""The SMPL prior of a mask: the posed body's silhouette in each camera, and where it is surely person."""

from __future__ import annotations

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.joints import SMPL_JOINTS
from ntop.body.params import SmplSequence
from ntop.cameras import Camera
from ntop.masks.background import dilate
from ntop.raster import rasterize

__all__ = ["posed_vertices", "silhouettes", "shadowless_faces", "erode"]

LOWER_LEGS = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot")


def posed_vertices(body: BodyModel, seq: SmplSequence) -> torch.Tensor:
    with torch.no_grad():
        return body.pose(seq.params()).vertices


def silhouettes(
    body: BodyModel, verts: torch.Tensor, cam: Camera, chunk: int = 16, faces: torch.Tensor | None = None
) -> np.ndarray:
    """``(T, H, W) bool``: where the posed body ``verts (T, V, 3)`` (world), or only its ``faces``, covers
    the camera's pixels."""
    K = torch.as_tensor(cam.K, dtype=torch.float32)[None]
    dist = torch.as_tensor(cam.dist, dtype=torch.float32)[None]
    faces = body.faces if faces is None else faces
    out = []
    for s in range(0, len(verts), chunk):
        v = cam.world_to_camera(verts[s : s + chunk])
        frags = rasterize(v, faces, cam.model, K.expand(len(v), -1), dist.expand(len(v), -1), cam.width, cam.height, cam.fov_deg)
        out.append(frags.mask.numpy())
    return np.concatenate(out) if out else np.zeros((0, cam.height, cam.width), bool)


def shadowless_faces(body: BodyModel) -> torch.Tensor:
    """The body's faces above its shins. The subject's shadow lies on the floor around the feet: only the
    lower legs stand in front of it in a camera's view, so anywhere else a darker (or brighter) pixel
    where the body is expected is the person, not the shadow the colour test would take it for."""
    lower = [SMPL_JOINTS.index(name) for name in LOWER_LEGS]
    on_lower_legs = torch.isin(body.smpl.lbs_weights.argmax(1), torch.tensor(lower))
    return body.faces[~on_lower_legs[body.faces].any(1)]


def erode(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Shrink by ``fraction`` of the image's shorter side (the inverse of ``background.dilate``)."""
    return ~dilate(~mask, fraction)
