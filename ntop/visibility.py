"""Keypoint visibility codes (COCO's v): 2 visible, 1 hidden by the body itself, 0 outside the image.

A joint lies *inside* the body, so "visible" cannot mean "nothing in front of it". It means the
first surface on the joint's ray is the body near that joint: no more than the joint's own depth
below the skin (its distance to the nearest rest-pose vertex, plus slack) in front of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.joints import JOINT_SETS
from ntop.raycast import first_hits

__all__ = ["depth_margins", "visibility_codes"]

_SLACK = 0.03  # metres


def depth_margins(body: BodyModel, joint_sets: list[str], betas: Any = None, offsets: np.ndarray | None = None) -> np.ndarray:
    """Per joint of the sets, one after the other: how far below the surface the joint sits in the rest
    pose, plus slack ``(J,)`` metres. A joint on a vertex sits on the skin; personal ``offsets`` (a cap,
    hair) may cover it, and then by as much as they lift the surface above it."""
    with torch.no_grad():
        shape = {"betas": np.zeros(body.num_betas) if betas is None else betas, "offsets": offsets}
        rest = body.pose({"global_orient": np.zeros((1, 3)), "body_pose": np.zeros((1, 69)), "transl": np.zeros((1, 3)), **shape})
        joints = torch.cat([body.joint_set(rest, n)[0] for n in joint_sets])
        d = torch.cdist(joints, rest.vertices[0]).amin(1).numpy()
        covered = d - torch.cdist(joints, rest.bare_vertices[0]).amin(1).numpy()  # by the offsets (0 without)
    vertex_joint = np.array([s.startswith("vertex:") for n in joint_sets for s in JOINT_SETS[n].sources])
    return np.where(vertex_joint, np.maximum(covered, 0.0), 1.5 * d) + _SLACK


def visibility_codes(
    valid: np.ndarray, vertices: np.ndarray, faces: np.ndarray, centres: np.ndarray, joints: np.ndarray, margins: np.ndarray
) -> np.ndarray:
    """Codes ``(F, V, J)`` uint8 for joints ``(F, J, 3)`` seen from camera centres ``(F, V, 3)``, with
    the frame's mesh ``vertices (F, N, 3)``: 0 where not ``valid`` (outside the image), 1 where a body
    surface lies on the joint's ray more than its margin in front of it, else 2. Rays are cast only
    for the distinct joints (sets share many) and only as far as they matter."""
    F, V, J = valid.shape
    _, first, inverse = np.unique(joints.transpose(1, 0, 2).reshape(J, -1), axis=0, return_index=True, return_inverse=True)
    shown = joints[:, first]  # (F, U, 3)
    ray = shown[:, None] - centres[:, :, None]  # (F, V, U, 3)
    length = np.linalg.norm(ray, axis=-1)
    reach = np.clip(1 - margins[first] / np.maximum(length, 1e-12), 0, None)  # how far to look: up to the margin
    ends = centres[:, :, None] + ray * reach[..., None]
    hit = first_hits(vertices, faces, np.repeat(centres, len(first), axis=1), ends.reshape(F, -1, 3))
    hidden = np.isfinite(hit).reshape(F, V, -1)[:, :, inverse.reshape(-1)]
    return np.where(valid, np.where(hidden, 1, 2), 0).astype(np.uint8)
