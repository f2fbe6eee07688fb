"""``ntop qa keypoints``: 2D detections, triangulated joints and calibrated cameras against ground truth,
or, for a real capture, against each other.

Ground truth: the 2D detector's pixel error (median, and the share of outliers it produced), the
triangulation's MPJPE in millimetres (mean, median, per joint, share of joints triangulated) and,
when a calibration is given, each camera's rotation and centre error after rigid alignment.

Self-consistency (no ground truth): the triangulated joints' reprojection error in the views that
made them, the leave-one-camera-out error (triangulate from the other cameras, project into this one,
against its own detections), the share of (frame, joint) pairs of the 12 torso and limb joints
triangulated, and who the detector saw (the subject's frames per view, everyone else it followed).
Pixels are also given at the capture's full resolution (``ingest.scale`` undone): the bars are there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ntop.body import JOINT_SETS
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import open_stage, read_cameras, require, write_json
from ntop.keypoints.calibrate import CALIBRATION_SCHEMA, NEUTRAL_SCALE_PRIOR, camera_errors
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.keypoints.triangulate import KEYPOINTS3D_SCHEMA, TriangulateConfig, reprojection, temporal_filter, triangulate_points
from ntop.qa.verdict import overall, warn_only
from ntop.settings import settings_from_dict

__all__ = ["CENTRE_MAX_PCT", "LEAVE_ONE_OUT_MAX_PX", "MPJPE_MAX_MM", "REPROJECTION_MAX_PX", "ROTATION_MAX_DEG"]
__all__ += ["check_keypoints", "run", "self_consistency"]

MPJPE_MAX_MM = 15.0
REPROJECTION_MAX_PX = 10.0  # median, at full resolution
LEAVE_ONE_OUT_MAX_PX = 20.0  # median, at full resolution
TRIANGULATED_MIN_PCT = 90.0  # of the 12 torso and limb joints' (frame, joint) pairs
LIMBS = slice(5, 17)  # COCO-17: shoulders to ankles
ROTATION_MAX_DEG = 1.0
CENTRE_MAX_PCT = 2.0


def _frames(f: h5py.File, cap: Capture, path: str | Path) -> np.ndarray:
    idx = require(f, "frame_index")[()]
    where = {int(v): i for i, v in enumerate(cap.frame_index)}
    missing = [int(v) for v in idx if int(v) not in where]
    if missing:
        raise NtopError(f"frames {missing[:5]} are not in the capture", path, "frame_index")
    return np.array([where[int(v)] for v in idx])


def check_keypoints(
    capture: str | Path,
    keypoints2d: str | Path,
    keypoints3d: str | Path,
    calibration: str | Path | None = None,
    calibration_used: bool = True,
) -> dict[str, Any]:
    report: dict[str, Any] = {"checks": {}}
    with Capture(capture) as cap:
        real = not cap.has_gt
    if real:
        report = self_consistency(capture, keypoints2d, keypoints3d)
        if calibration is not None:  # what the keypoints changed in the rig (figures, no verdict: nothing to compare with)
            with open_stage(calibration, CALIBRATION_SCHEMA) as f:
                report["checks"]["calibration"] = json.loads(f.attrs.get("report", "{}"))
        return report
    with (
        Capture(capture) as cap,
        open_stage(keypoints2d, KEYPOINTS2D_SCHEMA) as k2,
        open_stage(keypoints3d, KEYPOINTS3D_SCHEMA) as k3,
    ):
        joint_set = str(k3.attrs["joint_set"])
        rows2 = _frames(k2, cap, keypoints2d)
        uv_gt = cap.gt(f"joints2d/{joint_set}")[:, rows2]
        uv, conf = require(k2, "joints")[()], require(k2, "confidence")[()]
        err2 = np.linalg.norm(uv - uv_gt, axis=-1)[conf > 0]
        report["checks"]["detections"] = {
            "median_px": float(np.median(err2)),
            "over_10px_pct": float(100 * np.mean(err2 > 10)),
            "detected_pct": float(100 * np.mean(conf > 0)),
        }
        rows3 = _frames(k3, cap, keypoints3d)
        gt3 = cap.gt(f"joints3d/{joint_set}")[rows3]
        X = require(k3, "joints")[()]
        e = np.linalg.norm(X - gt3, axis=-1) * 1000
        ok = np.isfinite(e)
        names = JOINT_SETS[joint_set].names
        mean = float(e[ok].mean()) if ok.any() else float("nan")
        report["checks"]["triangulation"] = {
            "mpjpe_mm": mean,
            "median_mm": float(np.median(e[ok])) if ok.any() else float("nan"),
            "p95_mm": float(np.percentile(e[ok], 95)) if ok.any() else float("nan"),
            "triangulated_pct": float(100 * ok.mean()),
            "per_joint_mm": {n: float(np.nanmean(e[:, j])) if ok[:, j].any() else None for j, n in enumerate(names)},
            "max_mm": MPJPE_MAX_MM,
            "passed": bool(ok.mean() > 0.99 and mean <= MPJPE_MAX_MM),
        }
        true_cams = cap.cameras
    if calibration is not None:
        with open_stage(calibration, CALIBRATION_SCHEMA) as f:
            est = read_cameras(require(f, "cameras"))
            fit = json.loads(f.attrs.get("report", "{}"))
        if [c.name for c in est] != [c.name for c in true_cams]:
            raise NtopError("calibrated cameras are not the capture's", calibration, "cameras")
        report["checks"]["calibration"] = _calibration_verdict(camera_errors(est, true_cams), fit, calibration_used)
    report["passed"] = overall(report["checks"].values())
    return report


def _calibration_verdict(errs: dict[str, Any], fit: dict[str, Any], used: bool) -> dict[str, Any]:
    """The rig's shape (rotations, centres after a similarity) must meet the bars; its size only when
    something told the calibration the subject's size. A rig sized from the neutral body (no
    ``height_m``) is as far off as the subject is from it: that warns and names the setting. A
    calibration nothing downstream uses (``cameras: known``) only warns."""
    errs = {**errs, "residual_px": fit.get("residual_px"), "scale_prior": fit.get("scale_prior")}
    shape_ok = (
        max(errs["rotation_deg"].values()) <= ROTATION_MAX_DEG
        and max(errs["shape_centre_pct_of_radius"].values()) <= CENTRE_MAX_PCT
    )
    size_ok = max(errs["centre_pct_of_radius"].values()) <= CENTRE_MAX_PCT
    errs["passed"] = bool(shape_ok and size_ok)
    if not used:  # a measurement nothing downstream uses must not stop the dataset
        return warn_only(
            errs, "the rig calibrated from the keypoints is off its bar; the capture's own cameras are used (cameras: known)"
        )
    if shape_ok and not size_ok and errs["scale_prior"] == NEUTRAL_SCALE_PRIOR:
        why = (
            f"the rig's shape is right but its size is off by {errs['scale_error_pct']:+.1f} %: keypoints fix a rig up to scale, "
        )
        return warn_only(
            errs, why + "and it was sized by the neutral body's bones; give the subject's height (subjects.<name>.height_m)"
        )
    return errs


def _median(e: np.ndarray) -> float | None:
    e = e[np.isfinite(e)]
    return float(np.median(e)) if len(e) else None


def _leave_one_out(cams: list[Any], uv: np.ndarray, conf: np.ndarray, cfg: TriangulateConfig, min_conf: float) -> np.ndarray:
    """``(C, T, J)`` pixel errors of each camera's confident detections against the joints the other
    cameras triangulate (with the stage's own settings, temporal filter included)."""
    C, T, J = conf.shape
    err = np.full((C, T, J), np.nan)
    for c in range(C):
        others = [o for o in range(C) if o != c]
        n = len(others)
        res = triangulate_points([cams[o] for o in others], uv[others].reshape(n, -1, 2), conf[others].reshape(n, -1), cfg)
        X, _ = temporal_filter(res["points"].reshape(T, J, 3), cfg)
        px, valid = cams[c].project(X.reshape(-1, 3))
        e = np.linalg.norm(px - uv[c].reshape(-1, 2), axis=1).reshape(T, J)
        err[c] = np.where((conf[c] >= min_conf) & valid.reshape(T, J), e, np.nan)
    return err


def self_consistency(
    capture: Path | str, keypoints2d: Path | str, keypoints3d: Path | str, min_conf: float = 0.5
) -> dict[str, Any]:
    """The figures of a capture without ground truth (see the module's docstring)."""
    k2_file, k3_file = open_stage(keypoints2d, KEYPOINTS2D_SCHEMA), open_stage(keypoints3d, KEYPOINTS3D_SCHEMA)
    with Capture(capture) as cap, k2_file as k2, k3_file as k3:
        full = 1.0 / float(cap.h5.attrs.get("ingest_scale", 1.0))
        cams = read_cameras(require(k3, "cameras"))
        uv, conf = require(k2, "joints")[()], require(k2, "confidence")[()]
        X, inliers = require(k3, "joints")[()], require(k3, "inliers")[()]
        cfg = settings_from_dict(TriangulateConfig, json.loads(k3.attrs["provenance"]).get("params", {}), str(keypoints3d))
        joint_set = str(k3.attrs["joint_set"])
        chosen = k2["chosen"][()] if "chosen" in k2 else None
        tracks = k2["candidates/track"][()] if "candidates/track" in k2 else None
        swapped = k2["swapped_left_right"][()] if "swapped_left_right" in k2 else None
        filled = k2["filled_from_other_views"][()] if "filled_from_other_views" in k2 else None
    C, T, J = conf.shape
    px = reprojection(cams, X.reshape(-1, 3)).transpose(1, 0, 2).reshape(C, T, J, 2)
    reproj = np.where(np.moveaxis(inliers, -1, 0), np.linalg.norm(px - uv, axis=-1), np.nan)
    loo = _leave_one_out(cams, uv, conf, cfg, min_conf) if C >= 3 else np.full((C, T, J), np.nan)
    names = JOINT_SETS[joint_set].names
    median_full = lambda e: None if _median(e) is None else _median(e) * full  # noqa: E731
    triangulated = float(100 * np.isfinite(X[:, LIMBS if joint_set == "coco17" else slice(None), 0]).mean())
    reproj_med, loo_med = median_full(reproj), median_full(loo)
    report: dict[str, Any] = {"ground_truth": False, "full_resolution_factor": full, "checks": {}}
    report["checks"]["triangulation"] = {
        "reprojection_median_px": reproj_med,
        "reprojection_p90_px": None if reproj_med is None else float(np.nanpercentile(reproj, 90) * full),
        "reprojection_per_camera_px": {cam.name: median_full(reproj[c]) for c, cam in enumerate(cams)},
        "leave_one_out_median_px": loo_med,
        "leave_one_out_per_camera_px": {cam.name: median_full(loo[c]) for c, cam in enumerate(cams)},
        "leave_one_out_per_joint_px": {n: median_full(loo[:, :, j]) for j, n in enumerate(names)},
        "triangulated_limbs_pct": triangulated,
        "bars": {
            "reprojection_median_px": REPROJECTION_MAX_PX,
            "leave_one_out_median_px": LEAVE_ONE_OUT_MAX_PX,
            "triangulated_limbs_pct": TRIANGULATED_MIN_PCT,
        },
        "passed": bool(
            reproj_med is not None
            and reproj_med <= REPROJECTION_MAX_PX
            and triangulated >= TRIANGULATED_MIN_PCT
            and (loo_med is None or loo_med <= LEAVE_ONE_OUT_MAX_PX)
        ),
    }
    if chosen is not None and tracks is not None:
        filled = np.zeros(chosen.shape, bool) if filled is None else filled
        seen = (chosen >= 0) | filled
        report["checks"]["subject"] = {
            "frames_with_subject_pct": {cam.name: float(100 * seen[c].mean()) for c, cam in enumerate(cams)},
            "filled_from_other_views": {cam.name: int(filled[c].sum()) for c, cam in enumerate(cams)},
            "others_followed": {cam.name: max(0, len(np.unique(tracks[c][tracks[c] >= 0])) - 1) for c, cam in enumerate(cams)},
            "swapped_left_right": None if swapped is None else {cam.name: int(swapped[c].sum()) for c, cam in enumerate(cams)},
        }
    report["passed"] = overall(report["checks"].values())
    return report


def run(
    capture: str | Path,
    keypoints2d: str | Path,
    keypoints3d: str | Path,
    out_json: str | Path,
    calibration: str | Path | None = None,
    calibration_used: bool = True,
) -> dict[str, Any]:
    report = check_keypoints(capture, keypoints2d, keypoints3d, calibration, calibration_used)
    write_json(out_json, report)
    return report
