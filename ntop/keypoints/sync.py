"""Whether a rig's cameras are in step, from their detections alone: each camera's frame offset.

A camera whose video started a few frames late sees every moving joint a little off where the others
put it. For each camera, the joints the other cameras triangulate at frame t are projected into it and
compared with its own detections at frame t + k; the offsets are those that make every camera agree
best with the rest (the mean over cameras of the median leave-one-camera-out error, one camera at a
time, over a few sweeps). A still subject cannot tell offsets apart: a change must lower the error by
``min_gain`` to count, so a rig in step reads all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ntop.cameras import Camera
from ntop.keypoints.triangulate import weighted_dlt

__all__ = ["SyncEstimate", "estimate_offsets", "leave_one_out_px"]


@dataclass
class SyncEstimate:
    offsets: list[int]  # per camera, frames; the first camera is the reference (0)
    loo_in_step_px: list[float]  # per camera, median leave-one-camera-out error with no offsets
    loo_at_offsets_px: list[float]  # ... with the offsets

    @property
    def gain(self) -> float:
        """Relative drop of the mean leave-one-out error the offsets bring."""
        return 1 - float(np.mean(self.loo_at_offsets_px)) / float(np.mean(self.loo_in_step_px))


class _Views:
    """The detections as normalised image points (undistorted once), ready for any offsets."""

    def __init__(self, cams: list[Camera], uv: np.ndarray, conf: np.ndarray, min_conf: float):
        C, T, J = conf.shape
        rays = np.stack([cam.unproject(uv[c].reshape(-1, 2))[0] for c, cam in enumerate(cams)])  # (C, T*J, 3)
        z = np.where(np.abs(rays[..., 2:]) > 1e-12, rays[..., 2:], 1e-12)
        self.xy = torch.as_tensor((rays[..., :2] / z).reshape(C, T, J, 2))
        finite = np.isfinite(uv).all(-1) & np.isfinite(rays).all(-1).reshape(C, T, J)
        self.usable = torch.as_tensor((conf >= min_conf) & finite)
        self.P = torch.as_tensor(np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cams]))
        self.cams, self.uv, self.T, self.J = cams, uv, T, J

    def leave_one_out(self, offsets: list[int]) -> list[float]:
        """Median error (pixels) of each camera against the others' joints, over the frames all have."""
        C, T, J = len(self.cams), self.T, self.J
        lo, hi = max(0, -min(offsets)), min(T, T - max(offsets))
        frames = [torch.arange(lo, hi) + o for o in offsets]
        xy = torch.stack([self.xy[c, frames[c]] for c in range(C)], 2).reshape(-1, C, 2)  # (t*J, C, 2)
        usable = torch.stack([self.usable[c, frames[c]] for c in range(C)], 2).reshape(-1, C)
        medians = []
        for c in range(C):
            w = usable.double().clone()
            w[:, c] = 0
            ok = (w.sum(1) >= 2) & usable[:, c]
            X = weighted_dlt(self.P, torch.nan_to_num(xy[ok]), w[ok]).numpy()
            px, valid = self.cams[c].project(X)
            own = self.uv[c, frames[c].numpy()].reshape(-1, 2)[ok.numpy()]
            err = np.linalg.norm(px - own, axis=1)[valid & np.isfinite(X).all(1)]
            medians.append(float(np.median(err)) if len(err) else float("nan"))
        return medians


def leave_one_out_px(cams: list[Camera], uv: np.ndarray, conf: np.ndarray, offsets: list[int], min_conf: float = 0.5) -> list[float]:
    """Per camera, the median leave-one-camera-out error (pixels) of detections ``uv (C, T, J, 2)`` with
    confidences ``conf (C, T, J)`` when camera c's frame t + offsets[c] is taken as the others' frame t."""
    return _Views(cams, uv, conf, min_conf).leave_one_out(offsets)


def estimate_offsets(
    cams: list[Camera],
    uv: np.ndarray,
    conf: np.ndarray,
    search: int = 6,
    min_conf: float = 0.5,
    min_gain: float = 0.01,
    sweeps: int = 3,
) -> SyncEstimate:
    """Offsets within ``±search`` frames (at most a quarter of the clip) by coordinate descent; needs three
    cameras or more (with two, each camera's error is only the other's)."""
    views = _Views(cams, uv, conf, min_conf)
    C, T = len(cams), views.T
    search = max(0, min(search, T // 4))
    offsets = [0] * C
    in_step = views.leave_one_out(offsets)
    score = float(np.nanmean(in_step))
    for _ in range(sweeps):
        moved = False
        for c in range(1, C):
            trials = [offsets[:c] + [k] + offsets[c + 1 :] for k in range(-search, search + 1)]
            scores = [float(np.nanmean(views.leave_one_out(t))) for t in trials]
            best = int(np.argmin(scores))
            if scores[best] < score * (1 - min_gain):
                offsets, score, moved = trials[best], scores[best], True
        if not moved:
            break
    return SyncEstimate(offsets, in_step, views.leave_one_out(offsets))
