"""``ntop qa fit``: fitted SMPL bodies against the ground-truth ones, or, for a real capture, against
what the images say.

Ground truth: per action and overall, MPJPE over SMPL's 24 joints, PA-MPJPE (each frame aligned by a
similarity first, the usual monocular figure), mean vertex error, and the shape's error in betas.

Self-consistency: the body's COCO-17 joints projected into every camera against the detections
(median pixels, beside the triangulation's own reprojection median: a body cannot follow the
detections more closely than their consistent part), and its silhouette against the masks (IoU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.align import procrustes
from ntop.body import BodyModel
from ntop.body.params import read_smpl
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import open_stage, read_cameras, require, write_json
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
    f = lambda k: torch.as_tensor(params[k], dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        return body(f("global_orient"), f("body_pose"), f("betas")[None], f("transl"))


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
        report["actions"][action] = {"mpjpe_mm": float(ej.mean()), "pa_mpjpe_mm": float(pa.mean()), "vertex_mm": float(ev.mean()), "frames": len(rows)}
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


def _joint_errors(body: BodyModel, posed: Any, keypoints2d: str | Path, keypoints3d: str | Path | None) -> tuple[np.ndarray, ...]:
    """Pixel errors of the body's COCO-17 joints against the confident detections ``(C, T, J)``, and the
    triangulation's own errors in the views it kept (NaN without keypoints3d)."""
    with open_stage(keypoints2d, "keypoints2d") as f:
        cams, uv, conf = read_cameras(require(f, "cameras")), require(f, "joints")[()], require(f, "confidence")[()]
    joints = body.joint_set(posed, "coco17").numpy().reshape(-1, 3)
    own, tri = np.full(conf.shape, np.nan), np.full(conf.shape, np.nan)
    X = inliers = None
    if keypoints3d is not None:
        with open_stage(keypoints3d, "keypoints3d") as f:
            X, inliers = require(f, "joints")[()].reshape(-1, 3), require(f, "inliers")[()]
    for c, cam in enumerate(cams):
        px, _ = cam.project(joints)
        own[c] = np.where(conf[c] >= 0.5, np.linalg.norm(px.reshape(uv[c].shape) - uv[c], axis=-1), np.nan)
        if X is not None:
            px, _ = cam.project(X)
            tri[c] = np.where(inliers[..., c], np.linalg.norm(px.reshape(uv[c].shape) - uv[c], axis=-1), np.nan)
    return own, tri


Evidence = tuple[Path, Path | None, Path]  # a real capture's keypoints2d, keypoints3d (multi-view) and masks


def check_fit_against_images(smpl_path: str | Path, actions: list[tuple[Path, Path, Path | None, Path]], body: BodyModel) -> dict:
    """``actions``: ``(capture, keypoints2d, keypoints3d or None, masks)`` of each action of a real capture."""
    report: dict[str, Any] = {"ground_truth": False, "actions": {}}
    all_own, all_tri, all_iou = [], [], []
    for cap_path, k2, k3, masks in actions:
        with Capture(cap_path) as cap:
            action, full = cap.action, 1.0 / float(cap.h5.attrs.get("ingest_scale", 1.0))
        posed = _posed(body, read_smpl(smpl_path, action).params())
        own, tri = _joint_errors(body, posed, k2, k3)
        with open_stage(masks, "masks") as f:
            cams = read_cameras(require(f, "cameras"))
        ious = np.concatenate([frame_ious(read_masks(masks, cam.name), silhouettes(body, posed.vertices, cam)) for cam in cams])
        report["actions"][action] = {
            "joints_vs_detections_median_px": float(np.nanmedian(own) * full),
            "mask_iou_mean": float(ious.mean()),
            "mask_iou_min": float(ious.min()),
        }
        all_own.append(own.ravel() * full), all_tri.append(tri.ravel() * full), all_iou.append(ious)
    own, tri, iou = np.concatenate(all_own), np.concatenate(all_tri), np.concatenate(all_iou)
    triangulated = float(np.nanmedian(tri)) if np.isfinite(tri).any() else None
    overall = {"joints_vs_detections_median_px": float(np.nanmedian(own)), "triangulation_reprojection_median_px": triangulated,
               "mask_iou_mean": float(iou.mean()), "mask_iou_min": float(iou.min()),
               "bars": {"above_triangulation_px": ABOVE_TRIANGULATION_MAX_PX, "mask_iou_mean": MASK_IOU_MIN}}  # fmt: skip
    above = overall["joints_vs_detections_median_px"] - (triangulated or 0.0)
    close_enough = triangulated is None or above <= ABOVE_TRIANGULATION_MAX_PX
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
