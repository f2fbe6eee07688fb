"""``ntop qa keypoints``: 2D detections, triangulated joints and calibrated cameras against ground truth.

Figures: the 2D detector's pixel error (median, and the share of outliers it produced), the
triangulation's MPJPE in millimetres (mean, median, per joint, share of joints triangulated) and,
when a calibration is given, each camera's rotation and centre error after rigid alignment.
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
from ntop.keypoints.calibrate import CALIBRATION_SCHEMA, camera_errors
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.keypoints.triangulate import KEYPOINTS3D_SCHEMA

__all__ = ["MPJPE_MAX_MM", "ROTATION_MAX_DEG", "CENTRE_MAX_PCT", "check_keypoints", "run"]

MPJPE_MAX_MM = 15.0
ROTATION_MAX_DEG = 1.0
CENTRE_MAX_PCT = 2.0


def _frames(f: h5py.File, cap: Capture, path: str | Path) -> np.ndarray:
    idx = require(f, "frame_index")[()]
    where = {int(v): i for i, v in enumerate(cap.frame_index)}
    missing = [int(v) for v in idx if int(v) not in where]
    if missing:
        raise NtopError(f"frames {missing[:5]} are not in the capture", path, "frame_index")
    return np.array([where[int(v)] for v in idx])


def check_keypoints(capture: str | Path, keypoints2d: str | Path, keypoints3d: str | Path, calibration: str | Path | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"checks": {}}
    with Capture(capture) as cap, open_stage(keypoints2d, KEYPOINTS2D_SCHEMA) as k2, open_stage(keypoints3d, KEYPOINTS3D_SCHEMA) as k3:
        if not cap.has_gt:
            raise NtopError("qa keypoints needs a capture with ground truth", capture, "gt")
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
        errs = camera_errors(est, true_cams)
        errs["residual_px"] = fit.get("residual_px")
        errs["passed"] = bool(
            max(errs["rotation_deg"].values()) <= ROTATION_MAX_DEG and max(errs["centre_pct_of_radius"].values()) <= CENTRE_MAX_PCT
        )
        report["checks"]["calibration"] = errs
    report["passed"] = all(c.get("passed", True) for c in report["checks"].values())
    return report


def run(capture: str | Path, keypoints2d: str | Path, keypoints3d: str | Path, out_json: str | Path, calibration: str | Path | None = None) -> dict[str, Any]:
    report = check_keypoints(capture, keypoints2d, keypoints3d, calibration)
    write_json(out_json, report)
    return report
