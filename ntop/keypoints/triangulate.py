"""``triangulate``: robust multi-view triangulation of 2D keypoints with known cameras.

Pixels are first turned into normalised image coordinates through each camera's lens model (so any
``ntop.cameras`` model works). Every pair of views proposes a point by DLT; the proposal that the
most views agree with (reprojection error under ``threshold_px``, weighted by confidence) wins, and a
confidence-weighted DLT over its inlier views gives the result. Everything is batched over frames and
joints: the only Python loop runs over view pairs. Optional temporal smoothing (Savitzky-Golay).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.signal import savgol_filter

from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, read_cameras, require, write_cameras
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.settings import settings_from_dict

__all__ = ["KEYPOINTS3D_SCHEMA", "TriangulateConfig", "weighted_dlt", "triangulate_points", "triangulate"]

KEYPOINTS3D_SCHEMA = "keypoints3d"


@dataclass
class TriangulateConfig:
    threshold_px: float = 12.0  # reprojection error under which a view counts as an inlier
    min_confidence: float = 0.1
    smooth_window: int = 0  # frames; 0 = no temporal smoothing (odd numbers >= 5 otherwise)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "triangulation") -> "TriangulateConfig":
        return settings_from_dict(cls, d, where)


def weighted_dlt(P: torch.Tensor, xy: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Points ``(N, 3)`` from projection matrices ``(C, 3, 4)``, normalised image points ``(N, C, 2)``
    and weights ``(N, C)`` (zero weight = view ignored): the smallest singular vector of the stacked rows."""
    rows = torch.cat([xy[..., 0:1, None] * P[None, :, 2:3] - P[None, :, 0:1], xy[..., 1:2, None] * P[None, :, 2:3] - P[None, :, 1:2]], 2)  # (N, C, 2, 4)
    rows = rows / rows.norm(dim=-1, keepdim=True).clamp(min=1e-12)  # equalise rows first, then weight them
    A = (rows * w[..., None, None]).reshape(len(xy), -1, 4)
    _, _, Vh = torch.linalg.svd(A)
    X = Vh[:, -1]
    return X[:, :3] / torch.where(X[:, 3:].abs() > 1e-12, X[:, 3:], torch.full_like(X[:, 3:], 1e-12))


def _reprojection(cams: list[Camera], X: np.ndarray) -> np.ndarray:
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
        err = np.linalg.norm(_reprojection(cams, X) - uv.transpose(1, 0, 2), axis=-1)
        inliers = usable & (err < cfg.threshold_px)
        score = (inliers * conf.T).sum(1)
        better = (score > best_score) & (w[:, a] > 0) & (w[:, b] > 0)
        best_score = np.where(better, score, best_score)
        best_inliers = np.where(better[:, None], inliers, best_inliers)
    enough = best_inliers.sum(1) >= 2
    X = weighted_dlt(P, xy_t, torch.as_tensor(np.where(best_inliers, w_all, 0.0))).numpy()
    X = np.where(enough[:, None], X, np.nan)
    err = np.linalg.norm(_reprojection(cams, X) - uv.transpose(1, 0, 2), axis=-1)
    mean_err = np.where(enough, np.nansum(np.where(best_inliers, err, 0), 1) / np.maximum(best_inliers.sum(1), 1), np.nan)
    return {"points": X, "error_px": mean_err, "inliers": best_inliers & enough[:, None]}


def triangulate(keypoints2d: str | Path, out: str | Path, cfg: TriangulateConfig) -> dict[str, Any]:
    with open_stage(keypoints2d, KEYPOINTS2D_SCHEMA) as f:
        cams = read_cameras(require(f, "cameras"))
        uv, conf = require(f, "joints")[()], require(f, "confidence")[()]
        frames, joint_set = require(f, "frame_index")[()], str(f.attrs["joint_set"])
    if not np.isfinite(uv[conf > 0]).all():
        raise NtopError("keypoints with confidence > 0 must be finite", keypoints2d, "joints")
    C, T, J = conf.shape
    res = triangulate_points(cams, uv.reshape(C, T * J, 2), conf.reshape(C, T * J), cfg)
    points = res["points"].reshape(T, J, 3)
    if cfg.smooth_window:
        if cfg.smooth_window < 5 or cfg.smooth_window % 2 == 0 or cfg.smooth_window > T:
            raise NtopError("must be odd, >= 5 and at most the frame count", keypoints2d, "triangulation.smooth_window")
        filled = np.where(np.isnan(points), np.nanmean(points, 0, keepdims=True), points)
        points = np.where(np.isnan(points), np.nan, savgol_filter(filled, cfg.smooth_window, 2, axis=0))
    with create_stage(out, KEYPOINTS3D_SCHEMA, 1, params=asdict(cfg), inputs=[keypoints2d]) as f:
        f.attrs["joint_set"] = joint_set
        write_cameras(f.create_group("cameras"), cams)
        f.create_dataset("frame_index", data=frames)
        f.create_dataset("joints", data=points)
        f.create_dataset("error_px", data=res["error_px"].reshape(T, J))
        f.create_dataset("inliers", data=res["inliers"].reshape(T, J, C))
    return {"frames": T, "joints": J, "triangulated": int(np.isfinite(points[..., 0]).sum()), "mean_error_px": float(np.nanmean(res["error_px"]))}
