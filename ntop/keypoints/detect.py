"""``detect_keypoints``: 2D keypoints per camera and frame, written to ``keypoints2d.h5``.

Backend ``provided``: keypoints that come with the capture. For the synthetic capture these are the
ground truth made to look like a detector's output: Gaussian pixel noise, a fraction of outliers (a
joint put somewhere else nearby, with a plausible confidence), and dropouts (confidence 0). Joints
outside the image have confidence 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import create_stage, write_cameras
from ntop.settings import settings_from_dict

__all__ = ["KEYPOINTS2D_SCHEMA", "DetectConfig", "detect_keypoints"]

KEYPOINTS2D_SCHEMA = "keypoints2d"


@dataclass
class DetectConfig:
    backend: str = "provided"
    joint_set: str = "coco17"
    noise_px: float = 2.0  # standard deviation of the Gaussian pixel noise
    outlier_rate: float = 0.1  # fraction of joints put elsewhere
    outlier_px: tuple[float, float] = (20.0, 80.0)  # how far an outlier lands, pixels
    dropout_rate: float = 0.02  # fraction of joints missed (confidence 0)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "keypoints") -> "DetectConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.backend != "provided":
            raise NtopError(f"backend {cfg.backend!r} is not available yet (provided is)", where, "backend")
        if not (0 <= cfg.outlier_rate <= 1 and 0 <= cfg.dropout_rate <= 1):
            raise NtopError("rates must lie in [0, 1]", where)
        return cfg


def detect_keypoints(capture_path: str | Path, out: str | Path, cfg: DetectConfig) -> dict[str, Any]:
    rng = np.random.default_rng(cfg.seed)
    with Capture(capture_path) as cap:
        if not cap.has_gt:
            raise NtopError("the provided backend needs keypoints in the capture", capture_path, f"gt/joints2d/{cfg.joint_set}")
        uv = cap.gt(f"joints2d/{cfg.joint_set}").astype(np.float64)  # (C, T, J, 2)
        seen = cap.gt(f"visibility/{cfg.joint_set}") > 0
        cameras, frames = cap.cameras, cap.frame_index
    noisy = uv + rng.normal(0, cfg.noise_px, uv.shape)
    conf = np.where(seen, rng.uniform(0.7, 1.0, seen.shape), 0.0)
    outlier = seen & (rng.uniform(size=seen.shape) < cfg.outlier_rate)
    angle = rng.uniform(0, 2 * np.pi, seen.shape)
    radius = rng.uniform(*cfg.outlier_px, seen.shape)
    noisy = np.where(outlier[..., None], uv + np.stack([np.cos(angle), np.sin(angle)], -1) * radius[..., None], noisy)
    conf = np.where(outlier, rng.uniform(0.3, 1.0, seen.shape), conf)  # detectors are often sure of their mistakes
    dropped = rng.uniform(size=seen.shape) < cfg.dropout_rate
    conf = np.where(dropped, 0.0, conf)
    noisy = np.where(conf[..., None] > 0, noisy, 0.0)
    lo = np.where(conf[..., None] > 0, noisy, np.inf).min(2)
    hi = np.where(conf[..., None] > 0, noisy, -np.inf).max(2)
    boxes = np.where(np.isfinite(lo).all(-1, keepdims=True), np.concatenate([lo, hi - lo], -1), 0.0)  # xywh
    params = {**asdict(cfg), "outlier_px": list(cfg.outlier_px)}
    with create_stage(out, KEYPOINTS2D_SCHEMA, 1, params=params, inputs=[capture_path], units="pixels") as f:
        f.attrs["joint_set"] = cfg.joint_set
        write_cameras(f.create_group("cameras"), cameras)
        f.create_dataset("frame_index", data=frames)
        f.create_dataset("joints", data=noisy)
        f.create_dataset("confidence", data=conf)
        f.create_dataset("boxes", data=boxes)
        f.create_dataset("is_outlier", data=outlier & ~dropped)  # synthetic only: what the triangulation should reject
    return {"cameras": len(cameras), "frames": int(len(frames)), "outliers": int((outlier & ~dropped).sum()), "dropouts": int((dropped & seen).sum())}
