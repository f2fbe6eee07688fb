"""``ntop qa fit``: fitted SMPL bodies against the ground-truth ones, or, for a real capture, against
what the images say.

Ground truth: per action and overall, MPJPE over SMPL's 24 joints, PA-MPJPE (each frame aligned by a
similarity first, the usual monocular figure), mean vertex error, and the shape's error in betas.

Self-consistency: the body's COCO-17 joints projected into every camera against the detections
(median pixels, beside the triangulation's own reprojection median: a body cannot follow the
detections more closely than their consistent part), and its silhouette against the masks (IoU).
A fit refined against the masks also learnt where the detector puts each keypoint relative to the
model's joint (``keypoint_offsets``): the bar takes the joints so moved, and the model's own joints
are reported beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.align import procrustes
from ntop.body import BodyModel
from ntop.body.params import SmplSequence, read_smpl
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import open_stage, read_cameras, require, write_json
from ntop.keypoints.triangulate import reprojection
from ntop.masks.prior import silhouettes
from ntop.masks.stage import frame_ious, read_masks

__all__ = ["MPJPE_MAX_MM", "VERTEX_MAX_MM", "PA_MPJPE_MAX_MM", "pa_errors", "check_fit", "check_fit_against_images", "run"]

MPJPE_MAX_MM = 20.0
VERTEX_MAX_MM = 25.0
PA_MPJPE_MAX_MM = 50.0
ABOVE_TRIANGULATION_MAX_PX = 3.0  # the body's joints vs the detections, over the triangulation's reprojection median
MASK_IOU_MIN = 0.90


def pa_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-joint errors ``(T, J)`` after aligning each frame of ``pred`` to ``gt`` by rotation, scale and translation."""
    R, s, t = procrustes(pred, gt, scale=True)
    return np.linalg.norm(s[:, None, None] * pred @ np.swapaxes(R, 1, 2) + t[:, None] - gt, axis=-1)


def _posed(body: BodyModel, params: dict[str, np.ndarray]) -> Any:
    with torch.no_grad():
        return body.pose(params)


def check_fit(smpl_path: str | Path, captures: list[str | Path], body: BodyModel, monocular: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = {"actions": {}}
    all_j, all_pa, all_v = [], [], []
    for cap_path in captures:
        with Capture(cap_path) as cap:
            if not cap.has_gt:
                raise NtopError("qa fit needs a capture with ground-truth SMPL", cap_path, "gt/smpl")
            action = cap.action
        gt, fit = read_smpl(cap_path), read_smpl(smpl_path, action)
        rows = np.searchsorted(gt.frame_index, fit.frame_index)
        if not np.array_equal(gt.frame_index[np.clip(rows, 0, len(gt.frame_index) - 1)], fit.frame_index):
            raise NtopError("fitted frames are not in the capture", smpl_path, f"actions/{action}/frame_index")
        og, of = _posed(body, gt.take(rows).params()), _posed(body, fit.params())
        ej = (of.joints - og.joints).norm(dim=-1).numpy() * 1000
        ev = (of.vertices - og.vertices).norm(dim=-1).mean(1).numpy() * 1000
        pa = pa_errors(of.joints.double().numpy(), og.joints.double().numpy()) * 1000
        report["actions"][action] = {
            "mpjpe_mm": float(ej.mean()),
            "pa_mpjpe_mm": float(pa.mean()),
            "vertex_mm": float(ev.mean()),
            "frames": len(rows),
        }
        all_j.append(ej.mean(1))
        all_pa.append(pa.mean(1))
        all_v.append(ev)
        betas_gt = gt.betas
    overall = {
        "mpjpe_mm": float(np.concatenate(all_j).mean()),
        "pa_mpjpe_mm": float(np.concatenate(all_pa).mean()),
        "vertex_mm": float(np.concatenate(all_v).mean()),
        "betas_rmse": float(np.sqrt(np.mean((read_smpl(smpl_path, action).betas - betas_gt) ** 2))),
    }
    if monocular:
        overall["passed"] = overall["pa_mpjpe_mm"] <= PA_MPJPE_MAX_MM
    else:
        overall["passed"] = overall["mpjpe_mm"] <= MPJPE_MAX_MM and overall["vertex_mm"] <= VERTEX_MAX_MM
    report["overall"] = overall
    report["passed"] = bool(overall["passed"])
    return report


def _detected_joints(body: BodyModel, seq: SmplSequence, posed: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The body's COCO-17 joints ``(T, 17, 3)``: as the detector defines them (moved by the fit's keypoint
    offsets, when it has some), and as the model does (what the labels hold)."""
    joints = body.joint_set(posed, "coco17")
    if seq.keypoint_offsets is None:
        return joints, joints
    if seq.keypoint_offsets.shape != (17, 3):
        raise NtopError(f"keypoint offsets {seq.keypoint_offsets.shape} are not COCO-17's (17, 3)", field="keypoint_offsets")
    go, pose, offsets = (torch.as_tensor(a, dtype=joints.dtype) for a in (seq.global_orient, seq.body_pose, seq.keypoint_offsets))
    moved = body.turned_offsets(go, pose, offsets, body.joint_weights("coco17"))
    return joints + moved, joints


def _joint_errors(
    body: BodyModel, seq: SmplSequence, posed: Any, keypoints2d: str | Path, keypoints3d: str | Path | None
) -> dict[str, np.ndarray]:
    """Pixel errors ``(C, T, J)``: the body's COCO-17 joints (as the detector defines them) against the
    confident detections (``body``) and against those the triangulation kept (``body_kept``; the model's own
    joints: ``model_kept``), and the triangulation's own (``triangulation``; NaN without keypoints3d). The
    cameras are the triangulation's (a refined rig's: the bodies were fitted in its world), else the
    detections'."""
    with open_stage(keypoints2d, "keypoints2d") as f:
        cams, uv, conf = read_cameras(require(f, "cameras")), require(f, "joints")[()], require(f, "confidence")[()]
    kept = conf >= 0.5
    X = np.full((conf.shape[1] * conf.shape[2], 3), np.nan)
    if keypoints3d is not None:
        with open_stage(keypoints3d, "keypoints3d") as f:
            X, kept = require(f, "joints")[()].reshape(-1, 3), np.moveaxis(require(f, "inliers")[()], -1, 0)
            cams = read_cameras(require(f, "cameras"))

    def error(points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(reprojection(cams, points).transpose(1, 0, 2).reshape(uv.shape) - uv, axis=-1)

    detected, model = (j.numpy().reshape(-1, 3) for j in _detected_joints(body, seq, posed))
    body_err, model_err, tri_err = error(detected), error(model), error(X)
    return {
        "body": np.where(conf >= 0.5, body_err, np.nan),
        "body_kept": np.where(kept, body_err, np.nan),
        "model_kept": np.where(kept, model_err, np.nan),
        "triangulation": np.where(kept, tri_err, np.nan),
    }


Evidence = tuple[Path, Path | None, Path]  # a real capture's keypoints2d, keypoints3d (multi-view) and masks


def _largest_cm(offsets: np.ndarray | None) -> float | None:
    return None if offsets is None else float(np.linalg.norm(offsets, axis=-1).max() * 100)


def _median(arrays: list[np.ndarray]) -> float | None:
    values = np.concatenate([a.ravel() for a in arrays])
    return float(np.nanmedian(values)) if np.isfinite(values).any() else None


def check_fit_against_images(smpl_path: str | Path, actions: list[tuple[Path, Path, Path | None, Path]], body: BodyModel) -> dict:
    """``actions``: ``(capture, keypoints2d, keypoints3d or None, masks)`` of each action of a real capture.
    Pixels at the capture's full resolution (``ingest.scale`` undone)."""
    report: dict[str, Any] = {"ground_truth": False, "actions": {}}
    errors: dict[str, list[np.ndarray]] = {"body": [], "body_kept": [], "model_kept": [], "triangulation": []}
    ious = []
    for cap_path, k2, k3, masks in actions:
        with Capture(cap_path) as cap:
            action, full = cap.action, 1.0 / float(cap.h5.attrs.get("ingest_scale", 1.0))
        seq = read_smpl(smpl_path, action)
        posed = _posed(body, seq.params())
        for key, e in _joint_errors(body, seq, posed, k2, k3).items():
            errors[key].append(e * full)
        with open_stage(masks, "masks") as f:
            cams = read_cameras(require(f, "cameras"))
        ious.append(np.concatenate([frame_ious(read_masks(masks, c.name), silhouettes(body, posed.vertices, c)) for c in cams]))
        report["actions"][action] = {
            "joints_vs_detections_median_px": _median(errors["body"][-1:]),
            "mask_iou_mean": float(ious[-1].mean()),
        }
    iou = np.concatenate(ious)
    overall = {
        "joints_vs_detections_median_px": _median(errors["body"]),
        "joints_vs_kept_detections_median_px": _median(errors["body_kept"]),  # the detections the triangulation kept
        "model_joints_vs_kept_detections_median_px": _median(errors["model_kept"]),  # without the keypoint offsets
        "triangulation_reprojection_median_px": _median(errors["triangulation"]),
        "mask_iou_mean": float(iou.mean()),
        "mask_iou_min": float(iou.min()),
        "keypoint_offsets_max_cm": _largest_cm(seq.keypoint_offsets),
        "bars": {"above_triangulation_px": ABOVE_TRIANGULATION_MAX_PX, "mask_iou_mean": MASK_IOU_MIN},
    }
    triangulated = overall["triangulation_reprojection_median_px"]
    above = None if triangulated is None else overall["joints_vs_kept_detections_median_px"] - triangulated
    close_enough = above is None or above <= ABOVE_TRIANGULATION_MAX_PX
    overall["passed"] = bool(close_enough and overall["mask_iou_mean"] >= MASK_IOU_MIN)
    report["overall"], report["passed"] = overall, overall["passed"]
    return report


def run(
    smpl_path: str | Path,
    captures: list[str | Path],
    body: BodyModel,
    out_json: str | Path,
    evidence: list[Evidence] | None = None,
) -> dict[str, Any]:
    """``evidence``: per capture, ``(keypoints2d, keypoints3d or None, masks)``, for captures without ground truth."""
    import h5py

    with h5py.File(smpl_path, "r") as f:
        monocular = f.attrs.get("mode") == "monocular"
    if evidence:
        if len(evidence) != len(captures):
            raise NtopError("give keypoints and masks for every capture", smpl_path, "--keypoints2d")
        report = check_fit_against_images(smpl_path, [(c, *e) for c, e in zip(captures, evidence)], body)
    else:
        report = check_fit(smpl_path, captures, body, monocular)
    write_json(out_json, report)
    return report
