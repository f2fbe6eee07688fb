"""Per-view labels from the very SMPL bodies that drove the renders.

For every (frame, view): joints of every set in the view's camera frame, their pixels through the
view's own lens model, visibility codes (0 outside the image or the fisheye image circle, 1 hidden
by the body, 2 visible: the first SMPL surface on the joint's own ray lies no deeper in front of it
than the joint lies under the skin), the person box from the rendered alpha's box (with a margin,
clipped) and the alpha area (both measured by the render stage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.body import JOINT_SETS, BodyModel
from ntop.cameras import project
from ntop.views import PlannedViews
from ntop.visibility import depth_margins, visibility_codes

__all__ = ["ViewLabels", "compute_labels", "grow_boxes"]


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


def grow_boxes(box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """xywh boxes from tight x0, y0, x1, y1 boxes ``(..., 4)`` (``ntop.fisheye.alpha_boxes``), grown
    by ``margin`` of their size each side and clipped to the ``size`` square image; empty boxes stay zero."""
    x0, y0, x1, y1 = np.moveaxis(box, -1, 0)
    gx, gy = margin * (x1 - x0), margin * (y1 - y0)
    x0, y0 = np.maximum(x0 - gx, 0.0), np.maximum(y0 - gy, 0.0)
    x1, y1 = np.minimum(x1 + gx, float(size)), np.minimum(y1 + gy, float(size))
    return np.where((box[..., 2] > box[..., 0])[..., None], np.stack([x0, y0, x1 - x0, y1 - y0], -1), 0.0)


def compute_labels(
    body: BodyModel, pv: PlannedViews, box: np.ndarray, area: np.ndarray, joint_sets: list[str], bbox_margin: float = 0.05
) -> ViewLabels:
    """Labels of every view, vectorised over frames and views; visibility from exact rays to each joint."""
    F, V = pv.shape
    with torch.no_grad():
        out = body.pose(pv.smpl)
        world = np.concatenate([body.joint_set(out, n).double().numpy() for n in joint_sets], 1)  # (F, Q, 3)
        margins = depth_margins(body, joint_sets, pv.smpl["betas"], pv.smpl.get("offsets"))
    sizes = [len(JOINT_SETS[n]) for n in joint_sets]
    cam = world[:, None] @ pv.R.swapaxes(-1, -2) + pv.t[:, :, None]  # (F, V, Q, 3)
    uv, valid = project(pv.model, cam, pv.K[:, :, None], pv.dist[:, :, None], pv.fov_deg)
    valid &= (uv >= -0.5).all(-1) & (uv < pv.size - 0.5).all(-1)
    centres = -np.einsum("fvji,fvj->fvi", pv.R, pv.t)  # camera centres in the world
    code = visibility_codes(valid, out.vertices.numpy(), body.faces.numpy(), centres, world, margins)
    uv = np.where(code[..., None] > 0, uv, 0.0)
    bounds = np.cumsum([0] + sizes)
    split = {n: slice(bounds[i], bounds[i + 1]) for i, n in enumerate(joint_sets)}
    go = Rotation.from_rotvec(np.repeat(pv.smpl["global_orient"].reshape(F, 1, 3), V, 1).reshape(-1, 3))
    go_cam = (Rotation.from_matrix(pv.R.reshape(-1, 3, 3)) * go).as_rotvec().reshape(F, V, 3)
    return ViewLabels(
        joints_cam={n: np.ascontiguousarray(cam[:, :, sl]) for n, sl in split.items()},
        joints_uv={n: np.ascontiguousarray(uv[:, :, sl]) for n, sl in split.items()},
        vis={n: np.ascontiguousarray(code[:, :, sl]) for n, sl in split.items()},
        bbox=grow_boxes(box, bbox_margin, pv.size),
        area=area,
        global_orient_cam=go_cam,
        body_pose=pv.smpl["body_pose"].reshape(F, 69),
        betas=pv.smpl["betas"],
    )
