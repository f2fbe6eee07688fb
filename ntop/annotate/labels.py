"""Per-view labels from the very SMPL bodies that drove the renders.

For every (frame, view): joints of every set in the view's camera frame, their pixels through the
view's own lens model, visibility codes (0 outside the image or the fisheye image circle, 1 hidden
by the body, 2 visible: the first SMPL surface on the joint's own ray lies no deeper in front of it
than the joint lies under the skin), the person box from the rendered alpha (with a margin, clipped)
and the alpha area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.annotate.visibility import depth_margins, visibility_codes
from ntop.body import JOINT_SETS, BodyModel
from ntop.cameras import project
from ntop.raster import first_surface, rasterize
from ntop.views import PlannedViews

__all__ = ["ViewLabels", "compute_labels", "boxes_from_alpha", "body_depth"]

ALPHA_THRESHOLD = 0.5


@dataclass
class ViewLabels:
    """Arrays over (frame F, view V[, joint J]); 3D in metres in each view's camera frame."""

    joints_cam: dict[str, np.ndarray]  # set -> (F, V, J, 3)
    joints_uv: dict[str, np.ndarray]  # set -> (F, V, J, 2), zeros where v == 0
    vis: dict[str, np.ndarray]  # set -> (F, V, J) uint8
    bbox: np.ndarray  # (F, V, 4) xywh, pixels
    area: np.ndarray  # (F, V) alpha pixels
    global_orient_cam: np.ndarray  # (F, V, 3) axis-angle: the body's orientation in the camera frame
    body_pose: np.ndarray  # (F, 69)
    betas: np.ndarray  # (10,)


def boxes_from_alpha(alpha: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """xywh boxes ``(..., 4)`` around ``alpha > 0.5`` grown by ``margin`` of their size each side and
    clipped to the image, and the areas ``(...)`` in pixels; empty masks give zeros."""
    lead, (H, W) = alpha.shape[:-2], alpha.shape[-2:]
    m = alpha.reshape(-1, H, W) > ALPHA_THRESHOLD
    cols, rows = m.any(1), m.any(2)
    found = cols.any(1)
    x0 = cols.argmax(1) - 0.5
    x1 = W - cols[:, ::-1].argmax(1) - 0.5
    y0 = rows.argmax(1) - 0.5
    y1 = H - rows[:, ::-1].argmax(1) - 0.5
    gx, gy = margin * (x1 - x0), margin * (y1 - y0)
    x0, y0 = np.maximum(x0 - gx, 0.0), np.maximum(y0 - gy, 0.0)
    x1, y1 = np.minimum(x1 + gx, float(W)), np.minimum(y1 + gy, float(H))
    boxes = np.where(found[:, None], np.stack([x0, y0, x1 - x0, y1 - y0], 1), 0.0)
    return boxes.reshape(lead + (4,)), m.sum((1, 2)).reshape(lead)


def body_depth(body: BodyModel, vertices: torch.Tensor, pv: PlannedViews, f: int) -> np.ndarray:
    """Ray distance to the SMPL body ``(V, H, W)`` in every view of frame ``f`` (``inf`` = none)."""
    V = pv.shape[1]
    cams = [pv.camera(f, v) for v in range(V)]
    verts_cam = torch.stack([c.world_to_camera(vertices.double()) for c in cams]).float()
    K = torch.as_tensor(np.stack([c.K for c in cams]), dtype=torch.float32)
    dist = torch.as_tensor(np.stack([c.dist for c in cams]), dtype=torch.float32).reshape(V, -1)
    frags = rasterize(verts_cam, body.faces, pv.model, K, dist, pv.size, pv.size, pv.fov_deg)
    return frags.depth.numpy()


def compute_labels(body: BodyModel, pv: PlannedViews, alpha: np.ndarray, joint_sets: list[str], bbox_margin: float = 0.05, frames_per_pass: int = 16) -> ViewLabels:
    """Labels of every view, vectorised over views; visibility from the exact first surface on each joint's ray."""
    F, V = pv.shape
    s = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pv.smpl.items()}
    with torch.no_grad():
        out = body(s["global_orient"], s["body_pose"], s["betas"][None], s["transl"])
        world = np.concatenate([body.joint_set(out, n).double().numpy() for n in joint_sets], 1)  # (F, Q, 3)
        margins = np.concatenate([depth_margins(body, n, s["betas"][None]).numpy() for n in joint_sets])
    sizes = [len(JOINT_SETS[n]) for n in joint_sets]
    cam = np.einsum("fvij,fqj->fvqi", pv.R, world) + pv.t[:, :, None]  # (F, V, Q, 3)
    uv, valid = project(pv.model, cam, pv.K[:, :, None], pv.dist[:, :, None], pv.fov_deg)
    valid &= (uv >= -0.5).all(-1) & (uv < pv.size - 0.5).all(-1)
    surface = np.zeros(valid.shape)
    faces = body.faces
    for f0 in range(0, F, frames_per_pass):
        fs = slice(f0, min(f0 + frames_per_pass, F))
        n = (fs.stop - fs.start) * V
        verts = torch.einsum("fvij,fkj->fvki", torch.as_tensor(pv.R[fs]), out.vertices[fs].double()) + torch.as_tensor(pv.t[fs])[:, :, None]
        surface[fs] = first_surface(
            verts.reshape(n, -1, 3).float(), faces, pv.model, torch.as_tensor(pv.K[fs].reshape(n, 4), dtype=torch.float32),
            torch.as_tensor(pv.dist[fs].reshape(n, -1), dtype=torch.float32), torch.as_tensor(uv[fs].reshape(n, -1, 2), dtype=torch.float32), pv.size, pv.size, pv.fov_deg,
        ).numpy().reshape(fs.stop - fs.start, V, -1)  # fmt: skip
    code = visibility_codes(valid, surface, np.linalg.norm(cam, axis=-1), margins)
    uv = np.where(code[..., None] > 0, uv, 0.0)
    bounds = np.cumsum([0] + sizes)
    split = {n: slice(bounds[i], bounds[i + 1]) for i, n in enumerate(joint_sets)}
    go = Rotation.from_rotvec(np.repeat(pv.smpl["global_orient"].reshape(F, 1, 3), V, 1).reshape(-1, 3))
    go_cam = (Rotation.from_matrix(pv.R.reshape(-1, 3, 3)) * go).as_rotvec().reshape(F, V, 3)
    bbox, area = boxes_from_alpha(alpha, bbox_margin)
    return ViewLabels(
        joints_cam={n: cam[:, :, sl] for n, sl in split.items()},
        joints_uv={n: uv[:, :, sl] for n, sl in split.items()},
        vis={n: code[:, :, sl] for n, sl in split.items()},
        bbox=bbox, area=area, global_orient_cam=go_cam, body_pose=pv.smpl["body_pose"].reshape(F, 69), betas=pv.smpl["betas"],
    )  # fmt: skip
