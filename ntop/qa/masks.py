"""``ntop qa masks``: computed masks against the ground-truth ones, and against each other.

With ground truth (a synthetic capture): IoU per camera and frame; the report gives the mean, the
worst frame (and where), each camera's mean, and the same figures for the projected SMPL silhouette
the masks were built with, so that what the image evidence added over the body model is visible.
With triangulated joints (any multi-view capture, real ones included): the share of each camera's
mask pixels that the other cameras' masks support (:mod:`ntop.qa.silhouettes`), a warning below
``SUPPORT_WARN``. The sheet shows the worst frame of each camera: the mask in grey, pixels the truth
lacks in blue, pixels it has and the mask lacks (or, without truth, pixels no other view supports)
in red.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import atomic_path, open_stage, require, write_image, write_json
from ntop.masks.stage import frame_ious
from ntop.qa.silhouettes import check_support
from ntop.qa.verdict import overall, warn_only
from ntop.sheets import grid, label

__all__ = ["MEAN_IOU_MIN", "WORST_IOU_MIN", "check_masks", "run"]

MEAN_IOU_MIN = 0.95
WORST_IOU_MIN = 0.90
RED, BLUE, GREY = (230, 40, 40), (60, 120, 255), (170, 170, 170)
TILE = 256


def _figures(ious: np.ndarray, cameras: list[str], frame_index: np.ndarray) -> dict[str, Any]:
    c, t = np.unravel_index(ious.argmin(), ious.shape)
    return {
        "mean_iou": float(ious.mean()),
        "min_iou": float(ious.min()),
        "worst": {"camera": cameras[c], "frame": int(frame_index[t])},
        "per_camera": {n: float(v) for n, v in zip(cameras, ious.mean(1))},
    }


def _tile(mask: np.ndarray, red: np.ndarray, blue: np.ndarray, text: str, grow: int = 12) -> np.ndarray:
    """The mask and its doubtful pixels, cropped to where any of them lie."""
    img = np.zeros(mask.shape + (3,), np.uint8)
    img[mask], img[red], img[blue] = GREY, RED, BLUE
    ys, xs = np.nonzero(mask | red | blue)
    if len(ys):
        img = img[max(ys.min() - grow, 0) : ys.max() + grow + 1, max(xs.min() - grow, 0) : xs.max() + grow + 1]
    scale = TILE / max(img.shape[:2])
    if scale > 1:  # a small body drawn as big as a large one, its pixels kept as blocks
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_NEAREST)
    return label(np.ascontiguousarray(img), text)


def _against_truth(f: Any, cap: Capture, names: list[str]) -> tuple[dict[str, Any], list[np.ndarray]]:
    """IoU with the truth of the open masks file ``f``: the masks' and the SMPL prior's figures, and tiles."""
    masks = np.stack([require(f, f"masks/{n}")[()] > 0 for n in names])
    prior = np.stack([require(f, f"prior/{n}")[()] > 0 for n in names])
    gt = cap.gt("masks") > 0
    iou = np.stack([frame_ious(masks[c], gt[c]) for c in range(len(names))])
    report = _figures(iou, names, cap.frame_index)
    report["passed"] = bool(iou.mean() >= MEAN_IOU_MIN and iou.min() >= WORST_IOU_MIN)
    prior_report = _figures(np.stack([frame_ious(prior[c], gt[c]) for c in range(len(names))]), names, cap.frame_index)
    t = int(iou.min(0).argmin())
    tiles = [
        _tile(masks[c, t], gt[c, t] & ~masks[c, t], masks[c, t] & ~gt[c, t], f"{n} f{cap.frame_index[t]} IoU {iou[c, t]:.3f}")
        for c, n in enumerate(names)
    ]
    return {"masks": report, "smpl_prior": prior_report}, tiles


def _support_tiles(picture: dict[str, Any]) -> list[np.ndarray]:
    tiles = []
    for name, mask, bad in zip(picture["cameras"], picture["masks"], picture["unsupported"]):
        step = picture["stride"]  # each tested pixel stands for its step x step block
        tested = np.zeros_like(mask[::step, ::step])
        tested[bad[:, 1] // step, bad[:, 0] // step] = True
        red = np.kron(tested, np.ones((step, step), bool))[: mask.shape[0], : mask.shape[1]] & mask
        tiles.append(_tile(mask, red, np.zeros_like(mask), f"{name} f{picture['frame']} unsupported {len(bad)} px"))
    return tiles


def check_masks(
    masks_path: str | Path, capture_path: str | Path, keypoints3d: str | Path | None = None
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The report, and the sheet's tiles (the worst frame against the truth, else against the other views)."""
    with Capture(capture_path) as cap, open_stage(masks_path, "masks") as f:
        if not np.array_equal(require(f, "frame_index")[()], cap.frame_index):
            raise NtopError("the masks' frames are not the capture's", masks_path, "frame_index")
        method, names = str(f.attrs.get("method", "")), [c.name for c in cap.cameras]
        if not cap.has_gt and keypoints3d is None:
            message = "masks without ground truth are checked against each other: give --keypoints3d"
            raise NtopError(message, capture_path, "gt/masks")
        report: dict[str, Any] = {"method": method}
        tiles: list[np.ndarray] = []
        if cap.has_gt:
            figures, tiles = _against_truth(f, cap, names)
            report.update(figures)
    if keypoints3d is not None:
        support, picture = check_support(masks_path, keypoints3d)
        report["cross_view"] = warn_only(support, "the masks or the calibration disagree between views (see the sheet)")
        tiles = tiles or _support_tiles(picture)
    report["passed"] = overall([report.get("masks", {}), report.get("cross_view", {})])
    return report, tiles


def run(
    masks_path: str | Path,
    capture_path: str | Path,
    out_json: str | Path,
    keypoints3d: str | Path | None = None,
    out_sheet: str | Path | None = None,
) -> dict[str, Any]:
    report, tiles = check_masks(masks_path, capture_path, keypoints3d)
    if out_sheet is not None:
        with atomic_path(out_sheet) as tmp:
            write_image(tmp, grid(tiles, cols=len(tiles), tile_size=TILE))
    write_json(out_json, report)
    return report
