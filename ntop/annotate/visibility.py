"""Keypoint visibility codes (COCO's v): 2 visible, 1 hidden by the body itself, 0 outside the image.

A joint lies *inside* the body, so "visible" cannot mean "nothing in front of it". It means the
first surface on the joint's ray is the body near that joint: no more than the joint's own depth
below the skin (its distance to the nearest rest-pose vertex, plus slack) in front of it.
"""

from __future__ import annotations

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.joints import JOINT_SETS

__all__ = ["depth_margins", "visibility_codes"]

_SLACK = 0.03  # metres


def depth_margins(body: BodyModel, joint_set: str, betas: torch.Tensor | None = None) -> torch.Tensor:
    """Per joint: how far below the skin the joint sits in the rest pose, plus slack ``(J,)`` metres."""
    dtype = body.template.dtype
    rest = body(torch.zeros(1, 3, dtype=dtype), torch.zeros(1, 69, dtype=dtype), betas)
    joints = body.joint_set(rest, joint_set)[0]
    d = torch.cdist(joints, rest.vertices[0]).amin(1)
    vertex_joint = torch.tensor([s.startswith("vertex:") for s in JOINT_SETS[joint_set].sources])
    return torch.where(vertex_joint, torch.zeros_like(d), d) * 1.5 + _SLACK


def visibility_codes(valid: np.ndarray, surface: np.ndarray, joint_range: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """Codes ``(..., J)`` uint8 from in-image flags, the distance to the first body surface on each
    joint's ray (``ntop.raster.first_surface``), the joints' own distances and their margins."""
    hidden = surface < joint_range - margins
    return np.where(valid, np.where(hidden, 1, 2), 0).astype(np.uint8)
