"""``ntop qa masks``: computed masks against the ground-truth ones, and the SMPL prior beside them.

IoU per camera and frame; the report gives the mean, the worst frame (and where), each camera's mean,
and the same figures for the projected SMPL silhouette the masks were built with, so that what the
image evidence added over the body model is visible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import open_stage, require, write_json
from ntop.masks.stage import frame_ious

__all__ = ["MEAN_IOU_MIN", "WORST_IOU_MIN", "check_masks", "run"]

MEAN_IOU_MIN = 0.95
WORST_IOU_MIN = 0.90


def _figures(ious: np.ndarray, cameras: list[str], frame_index: np.ndarray) -> dict[str, Any]:
    c, t = np.unravel_index(ious.argmin(), ious.shape)
    return {
        "mean_iou": float(ious.mean()),
        "min_iou": float(ious.min()),
        "worst": {"camera": cameras[c], "frame": int(frame_index[t])},
        "per_camera": {n: float(v) for n, v in zip(cameras, ious.mean(1))},
    }


def check_masks(masks_path: str | Path, capture_path: str | Path) -> dict[str, Any]:
    with Capture(capture_path) as cap, open_stage(masks_path, "masks") as f:
        if not cap.has_gt:
            raise NtopError("qa masks needs a capture with ground-truth masks", capture_path, "gt/masks")
        if not np.array_equal(require(f, "frame_index")[()], cap.frame_index):
            raise NtopError("the masks' frames are not the capture's", masks_path, "frame_index")
        gt = cap.gt("masks") > 0
        names = [c.name for c in cap.cameras]
        masks = np.stack([require(f, f"masks/{n}")[()] > 0 for n in names])
        prior = np.stack([require(f, f"prior/{n}")[()] > 0 for n in names])
        method = str(f.attrs.get("method", ""))
        frame_index = cap.frame_index
    iou = np.stack([frame_ious(masks[c], gt[c]) for c in range(len(names))])
    report: dict[str, Any] = {"method": method, "masks": _figures(iou, names, frame_index)}
    report["smpl_prior"] = _figures(np.stack([frame_ious(prior[c], gt[c]) for c in range(len(names))]), names, frame_index)
    report["passed"] = bool(iou.mean() >= MEAN_IOU_MIN and iou.min() >= WORST_IOU_MIN)
    return report


def run(masks_path: str | Path, capture_path: str | Path, out_json: str | Path) -> dict[str, Any]:
    report = check_masks(masks_path, capture_path)
    write_json(out_json, report)
    return report
