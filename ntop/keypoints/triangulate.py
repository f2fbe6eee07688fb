"""``triangulate``: robust multi-view triangulation of 2D keypoints with known cameras.

Pixels are first turned into normalised image coordinates through each camera's lens model (so any
``ntop.cameras`` model works). Every pair of views proposes a point by DLT; proposals are scored
MSAC-style (each view within ``threshold_px`` adds its confidence times ``1 - (err/threshold)^2``, so
of two proposals with the same inlier count the more consistent one wins), and a confidence-weighted
DLT over the winner's inlier views gives the result. Everything is batched over frames and joints:
the only Python loop runs over view pairs.

Videos also give time. A point more than ``temporal_gate_m`` away from where its neighbours in time
put it (the median of their positions carried forward at the track's median velocity) is a
triangulation that went wrong (typically two outlier views out of four); it is
dropped and filled from its neighbours in time, and a Savitzky-Golay filter then removes the
remaining frame-to-frame noise. Both are off unless configured, since frames may be sub-sampled.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import savgol_filter

from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, read_cameras, require, write_cameras
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.settings import settings_from_dict
from ntop.tracks import fill_gaps

__all__ = ["KEYPOINTS3D_SCHEMA", "TriangulateConfig", "weighted_dlt", "reprojection", "triangulate_points", "temporal_filter"]
__all__ += ["triangulate"]

KEYPOINTS3D_SCHEMA = "keypoints3d"


@dataclass
class TriangulateConfig:
    threshold_px: float = 12.0  # reprojection error under which a view counts as an inlier
    min_confidence: float = 0.1
    temporal_gate_m: float = 0.0  # metres from the running median of a track; 0 = no temporal gating
    median_window: int = 7  # frames of that running median (odd)
    smooth_window: int = 0  # frames; 0 = no temporal smoothing (odd numbers >= 5 otherwise)
    smooth_order: int = 2  # polynomial order of the Savitzky-Golay filter

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "triangulation") -> "TriangulateConfig":
        return settings_from_dict(cls, d, where)


def weighted_dlt(P: torch.Tensor, xy: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Points ``(N, 3)`` from projection matrices ``(C, 3, 4)``, normalised image points ``(N, C, 2)``
    and weights ``(N, C)`` (zero weight = view ignored): the smallest singular vector of the stacked rows."""
    rows = torch.cat(
        [xy[..., 0:1, None] * P[None, :, 2:3] - P[None, :, 0:1], xy[..., 1:2, None] * P[None, :, 2:3] - P[None, :, 1:2]], 2
    )  # (N, C, 2, 4)
    rows = rows / rows.norm(dim=-1, keepdim=True).clamp(min=1e-12)  # equalise rows first, then weight them
    A = (rows * w[..., None, None]).reshape(len(xy), -1, 4)
    _, _, Vh = torch.linalg.svd(A)
    X = Vh[:, -1]
    return X[:, :3] / torch.where(X[:, 3:].abs() > 1e-12, X[:, 3:], torch.full_like(X[:, 3:], 1e-12))


def reprojection(cams: list[Camera], X: np.ndarray) -> np.ndarray:
    """Pixels of world points ``(N, 3)`` in every camera ``(N, C, 2)`` (NaN where a camera cannot see them)."""
    out = []
    for cam in cams:
        uv, valid = cam.project_camera(cam.world_to_camera(X))
        out.append(np.where(valid[:, None], uv, np.nan))
    return np.stack(out, 1)


def triangulate_points(cams: list[Camera], uv: np.ndarray, conf: np.ndarray, cfg: TriangulateConfig) -> dict[str, np.ndarray]:
    """``uv (C, N, 2)`` pixels, ``conf (C, N)`` -> ``points (N, 3)``, ``error_px (N,)``, ``inliers (N, C)``."""
    C, N = conf.shape
    if C < 2:
        raise NtopError("triangulation needs at least two cameras", field="cameras")
    rays = np.stack([cam.unproject(uv[c])[0] for c, cam in enumerate(cams)], 1)  # (N, C, 3)
    xy = rays[..., :2] / np.where(np.abs(rays[..., 2:]) > 1e-12, rays[..., 2:], 1e-12)
    P = torch.as_tensor(np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cams]))
    xy_t = torch.as_tensor(xy)
    usable = (conf.T >= cfg.min_confidence) & np.isfinite(xy).all(-1)
    w_all = np.where(usable, conf.T, 0.0)
    best_score = np.full(N, -1.0)
    best_inliers = np.zeros((N, C), bool)
    for a, b in combinations(range(C), 2):
        w = np.zeros((N, C))
        w[:, [a, b]] = w_all[:, [a, b]]
        X = weighted_dlt(P, xy_t, torch.as_tensor(w)).numpy()
        err = np.linalg.norm(reprojection(cams, X) - uv.transpose(1, 0, 2), axis=-1)
        inliers = usable & (err < cfg.threshold_px)
        score = np.where(inliers, conf.T * (1 - (np.nan_to_num(err) / cfg.threshold_px) ** 2), 0).sum(1)
        better = (score > best_score) & (w[:, a] > 0) & (w[:, b] > 0)
        best_score = np.where(better, score, best_score)
        best_inliers = np.where(better[:, None], inliers, best_inliers)
    enough = best_inliers.sum(1) >= 2
    X = weighted_dlt(P, xy_t, torch.as_tensor(np.where(best_inliers, w_all, 0.0))).numpy()
    X = np.where(enough[:, None], X, np.nan)
    err = np.linalg.norm(reprojection(cams, X) - uv.transpose(1, 0, 2), axis=-1)
    mean_err = np.where(enough, np.nansum(np.where(best_inliers, err, 0), 1) / np.maximum(best_inliers.sum(1), 1), np.nan)
    return {"points": X, "error_px": mean_err, "inliers": best_inliers & enough[:, None]}


def triangulate(
    keypoints2d: str | Path, out: str | Path, cfg: TriangulateConfig, cameras: str | Path | None = None
) -> dict[str, Any]:
    """Triangulate with the keypoint file's cameras, or those of a calibration file (``calibrate``'s output)."""
    with open_stage(keypoints2d, KEYPOINTS2D_SCHEMA) as f:
        cams = read_cameras(require(f, "cameras"))
        uv, conf = require(f, "joints")[()], require(f, "confidence")[()]
        frames, joint_set = require(f, "frame_index")[()], str(f.attrs["joint_set"])
    if not np.isfinite(uv[conf > 0]).all():
        raise NtopError("keypoints with confidence > 0 must be finite", keypoints2d, "joints")
    inputs = [keypoints2d]
    if cameras is not None:
        with open_stage(cameras, ("calibration", "capture")) as f:
            calibrated = read_cameras(require(f, "cameras"))
        if [c.name for c in calibrated] != [c.name for c in cams]:
            raise NtopError(
                f"cameras {[c.name for c in calibrated]} are not the keypoints' {[c.name for c in cams]}", cameras, "cameras"
            )
        cams, inputs = calibrated, [keypoints2d, cameras]
    C, T, J = conf.shape
    res = triangulate_points(cams, uv.reshape(C, T * J, 2), conf.reshape(C, T * J), cfg)
    points, gated = temporal_filter(res["points"].reshape(T, J, 3), cfg, keypoints2d)
    with create_stage(out, KEYPOINTS3D_SCHEMA, 1, params=asdict(cfg), inputs=inputs) as f:
        f.attrs["joint_set"] = joint_set
        write_cameras(f.create_group("cameras"), cams)
        f.create_dataset("frame_index", data=frames)
        f.create_dataset("joints", data=points)
        f.create_dataset("error_px", data=res["error_px"].reshape(T, J))
        f.create_dataset("inliers", data=res["inliers"].reshape(T, J, C))
        f.create_dataset("temporally_gated", data=gated)
    return {
        "frames": T,
        "joints": J,
        "triangulated": int(np.isfinite(points[..., 0]).sum()),
        "temporally_gated": int(gated.sum()),
        "mean_error_px": float(np.nanmean(res["error_px"])),
    }


def temporal_filter(points: np.ndarray, cfg: TriangulateConfig, path: str | Path = "") -> tuple[np.ndarray, np.ndarray]:
    """Tracks ``(T, J, 3)`` -> gated, gap-filled and smoothed tracks, and the ``(T, J)`` mask of gated points."""
    T = len(points)
    gated = np.zeros(points.shape[:2], bool)
    if not (cfg.temporal_gate_m or cfg.smooth_window):
        return points, gated
    missing = np.isnan(points[..., 0]).all(0)  # joints never triangulated stay NaN
    if cfg.temporal_gate_m:
        w = cfg.median_window
        if w < 3 or w % 2 == 0 or w > T:
            raise NtopError("must be odd, >= 3 and at most the frame count", path, "triangulation.median_window")
        h = w // 2
        offsets = np.arange(-h, h + 1)
        with warnings.catch_warnings():  # all-NaN windows (joints never seen) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            # velocity from the median of frame-to-frame steps (one wrong point spoils only two of them)
            steps = np.pad(np.diff(points, axis=0), ((h, h + 1), (0, 0), (0, 0)), constant_values=np.nan)
            velocity = np.nanmedian(sliding_window_view(steps, w, axis=0), -1)
            window = sliding_window_view(
                np.pad(points, ((h, h), (0, 0), (0, 0)), constant_values=np.nan), w, axis=0
            )  # shorter at the ends
            median = np.nanmedian(window - offsets * np.nan_to_num(velocity)[..., None], -1)  # where each neighbour says t is
        gated = np.linalg.norm(points - median, axis=-1) > cfg.temporal_gate_m
        points = np.where(gated[..., None], np.nan, points)
    points = fill_gaps(points)
    if cfg.smooth_window:
        if cfg.smooth_window < 5 or cfg.smooth_window % 2 == 0 or cfg.smooth_window > T or cfg.smooth_order >= cfg.smooth_window:
            raise NtopError(
                "must be odd, >= 5, above smooth_order and at most the frame count", path, "triangulation.smooth_window"
            )
        points = savgol_filter(np.where(missing[None, :, None], 0.0, points), cfg.smooth_window, cfg.smooth_order, axis=0)
    return np.where(missing[None, :, None], np.nan, points), gated
