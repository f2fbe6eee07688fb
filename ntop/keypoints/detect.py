"""``detect_keypoints``: 2D keypoints per camera and frame, written to ``keypoints2d.h5``.

Backend ``provided``: keypoints that come with the capture. For the synthetic capture these are the
ground truth made to look like a detector's output: Gaussian pixel noise, a fraction of outliers (a
joint put somewhere else nearby, with a plausible confidence), and dropouts (confidence 0). Joints
outside the image have confidence 0.

Backend ``onnx``: a top-down pose model the user supplies (:mod:`ntop.keypoints.onnx_pose`), run on
the capture's frames with person boxes from masks, a detector model or the previous frame.

Backend ``blazepose``: MediaPipe's BlazePose, which ships with ntop (:mod:`ntop.keypoints.blazepose`):
every person in every frame, then the subject among them (:mod:`ntop.keypoints.subject`). The file keeps
every person found (``candidates/*``) and which one is the subject (``chosen``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ntop.cameras import Camera
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, require, write_cameras
from ntop.keypoints.blazepose import BlazePose, BlazePoseConfig, track_people
from ntop.keypoints.onnx_pose import OnnxPose, OnnxPoseConfig, box_from_keypoints, box_from_mask
from ntop.keypoints.subject import SubjectConfig, subject_keypoints
from ntop.settings import settings_from_dict

__all__ = ["KEYPOINTS2D_SCHEMA", "DetectConfig", "emulate_detector", "detect_keypoints"]

KEYPOINTS2D_SCHEMA = "keypoints2d"
BACKENDS = ("provided", "dataset", "onnx", "blazepose")


@dataclass
class DetectConfig:
    backend: str = "provided"
    joint_set: str = "coco17"
    noise_px: float = 2.0  # standard deviation of the Gaussian pixel noise
    outlier_rate: float = 0.1  # fraction of joints put elsewhere
    outlier_px: tuple[float, float] = (20.0, 80.0)  # how far an outlier lands, pixels
    dropout_rate: float = 0.02  # fraction of joints missed (confidence 0)
    seed: int = 0
    onnx: dict[str, Any] = field(default_factory=dict)  # OnnxPoseConfig fields, for backend onnx
    blazepose: dict[str, Any] = field(default_factory=dict)  # BlazePoseConfig fields, for backend blazepose
    subject: dict[str, Any] = field(default_factory=dict)  # SubjectConfig fields: the subject among other people

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "keypoints") -> "DetectConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.backend not in BACKENDS:
            raise NtopError(f"unknown backend {cfg.backend!r} ({', '.join(BACKENDS)})", where, "backend")
        if not (0 <= cfg.outlier_rate <= 1 and 0 <= cfg.dropout_rate <= 1):
            raise NtopError("rates must lie in [0, 1]", where)
        if cfg.backend == "onnx":
            onnx = cls.onnx_config(cfg, where)
            if not onnx.model:
                raise NtopError("the onnx backend needs a pose model path", where, "onnx.model")
            unknown = set(onnx.box_source) - {"masks", "detector", "previous"}
            if unknown or not onnx.box_source:
                raise NtopError(f"box sources are masks, detector, previous (got {onnx.box_source})", where, "onnx.box_source")
        if cfg.backend == "blazepose":
            settings_from_dict(BlazePoseConfig, cfg.blazepose, f"{where}.blazepose")
            SubjectConfig.from_dict(cfg.subject, f"{where}.subject")
        return cfg

    @staticmethod
    def onnx_config(cfg: "DetectConfig", where: str = "keypoints") -> OnnxPoseConfig:
        return settings_from_dict(OnnxPoseConfig, cfg.onnx, f"{where}.onnx")


def emulate_detector(
    uv: np.ndarray, seen: np.ndarray, cfg: DetectConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True pixels ``uv (..., 2)`` of joints ``seen (...)`` -> detector-like pixels, confidences and the
    outlier mask: Gaussian noise, outliers 20-80 px away with plausible confidences, dropouts (confidence 0)."""
    noisy = uv + rng.normal(0, cfg.noise_px, uv.shape)
    conf = np.where(seen, rng.uniform(0.7, 1.0, seen.shape), 0.0)
    outlier = seen & (rng.uniform(size=seen.shape) < cfg.outlier_rate)
    angle = rng.uniform(0, 2 * np.pi, seen.shape)
    radius = rng.uniform(*cfg.outlier_px, seen.shape)
    noisy = np.where(outlier[..., None], uv + np.stack([np.cos(angle), np.sin(angle)], -1) * radius[..., None], noisy)
    conf = np.where(outlier, rng.uniform(0.3, 1.0, seen.shape), conf)  # detectors are often sure of their mistakes
    dropped = rng.uniform(size=seen.shape) < cfg.dropout_rate
    conf = np.where(dropped, 0.0, conf)
    return np.where(conf[..., None] > 0, noisy, 0.0), conf, outlier & ~dropped


def detect_keypoints(
    capture_path: str | Path,
    out: str | Path,
    cfg: DetectConfig,
    frames: str | Path | None = None,
    masks: str | Path | None = None,
) -> dict[str, Any]:
    if cfg.backend == "onnx":
        return _detect_onnx(capture_path, out, cfg, frames, masks)
    if cfg.backend == "blazepose":
        return _detect_blazepose(capture_path, out, cfg, frames)
    if cfg.backend == "dataset":
        return _from_dataset(capture_path, out, cfg)
    rng = np.random.default_rng(cfg.seed)
    with Capture(capture_path) as cap:
        if not cap.has_gt:
            raise NtopError("the provided backend needs keypoints in the capture", capture_path, f"gt/joints2d/{cfg.joint_set}")
        uv = cap.gt(f"joints2d/{cfg.joint_set}").astype(np.float64)  # (C, T, J, 2)
        seen = cap.gt(f"visibility/{cfg.joint_set}") > 0
        cameras, frame_index = cap.cameras, cap.frame_index
    noisy, conf, outlier = emulate_detector(uv, seen, cfg, rng)
    params = {**asdict(cfg), "outlier_px": list(cfg.outlier_px)}
    _write(
        out,
        cfg.joint_set,
        cameras,
        frame_index,
        noisy,
        conf,
        _boxes(noisy, conf),
        params,
        [capture_path],
        {"is_outlier": outlier},
    )
    return {
        "cameras": len(cameras),
        "frames": int(len(frame_index)),
        "outliers": int(outlier.sum()),
        "dropouts": int((seen & (conf == 0)).sum()),
    }


def _boxes(joints: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """``(C, T, 4)`` xywh around the detected joints (zeros where none was)."""
    lo = np.where(conf[..., None] > 0, joints, np.inf).min(2)
    hi = np.where(conf[..., None] > 0, joints, -np.inf).max(2)
    return np.where(np.isfinite(lo).all(-1, keepdims=True), np.concatenate([lo, hi - lo], -1), 0.0)


def _from_dataset(capture_path: str | Path, out: str | Path, cfg: DetectConfig) -> dict[str, Any]:
    """The 2D keypoints an adapter brought along (``keypoints2d/<set>``, frames first), as they are."""
    key = f"keypoints2d/{cfg.joint_set}"
    with Capture(capture_path) as cap:
        joints = np.moveaxis(require(cap.h5, f"{key}/joints")[()], 0, 1).astype(np.float64)  # (C, T, J, 2)
        conf = np.moveaxis(require(cap.h5, f"{key}/confidence")[()], 0, 1).astype(np.float64)
        cameras, frame_index = cap.cameras, cap.frame_index
    _write(
        out,
        cfg.joint_set,
        cameras,
        frame_index,
        joints,
        conf,
        _boxes(joints, conf),
        {"backend": "dataset", "joint_set": cfg.joint_set},
        [capture_path],
        {},
    )
    return {"cameras": len(cameras), "frames": int(len(frame_index)), "detected": int((conf > 0).any(-1).sum())}


def _write(
    out: str | Path,
    joint_set: str,
    cameras: list[Camera],
    frames: np.ndarray,
    joints: np.ndarray,
    conf: np.ndarray,
    boxes: np.ndarray,
    params: dict[str, Any],
    inputs: list[Any],
    extra: dict[str, np.ndarray],
) -> None:
    """``extra``: datasets only some backends have (the synthetic ``is_outlier``: what the triangulation
    should reject; BlazePose's ``candidates/*``: everyone it found)."""
    with create_stage(out, KEYPOINTS2D_SCHEMA, 1, params=params, inputs=inputs, units="pixels") as f:
        f.attrs["joint_set"] = joint_set
        write_cameras(f.create_group("cameras"), cameras)
        f.create_dataset("frame_index", data=frames)
        f.create_dataset("joints", data=joints)
        f.create_dataset("confidence", data=conf)
        f.create_dataset("boxes", data=boxes)  # x, y, w, h
        for k, v in extra.items():
            f.create_dataset(k, data=v)


def _mask_source(path: str | Path, cameras: list[Any]) -> tuple[Any, Any]:
    """An open masks file (``segment``'s masks.h5) or a capture with masks (the dataset's or the ground truth), and
    ``mask(camera_index, t)``."""
    f = open_stage(path, ("masks", "capture"))
    if f.attrs["schema"] == "masks":
        for cam in cameras:
            require(f, f"masks/{cam.name}")
        return f, lambda c, t: f[f"masks/{cameras[c].name}"][t] > 0
    if "masks" in f:  # the dataset's own, per camera
        return f, lambda c, t: f[f"masks/{cameras[c].name}"][t] > 0
    require(f, "gt/masks")
    return f, lambda c, t: f["gt/masks"][c, t] > 0


def _detect_onnx(
    capture_path: str | Path, out: str | Path, cfg: DetectConfig, frames_path: str | Path | None, masks_path: str | Path | None
) -> dict[str, Any]:
    ocfg = DetectConfig.onnx_config(cfg)
    if frames_path is None:
        raise NtopError("the onnx backend reads images: give the capture's frames.h5", field="frames")
    if "masks" in ocfg.box_source and masks_path is None:
        raise NtopError("box source 'masks' needs a masks file", field="keypoints.onnx.box_source")
    model = OnnxPose(ocfg)
    with Capture(capture_path, frames_path) as cap:
        cameras, frame_index = cap.cameras, cap.frame_index
        C, T = len(cameras), len(frame_index)
        joints, conf, boxes = None, None, np.zeros((C, T, 4))
        mfile, mask = _mask_source(masks_path, cameras) if masks_path is not None else (None, None)
        step = 1 if "previous" in ocfg.box_source else ocfg.batch  # the previous frame's keypoints must exist first
        try:
            for c in range(C):
                for start in range(0, T, step):
                    images, kept, kept_boxes = [], [], []
                    for t in range(start, min(T, start + step)):
                        image = cap.frame(c, t)
                        box = None
                        for source in ocfg.box_source:
                            if source == "masks":
                                box = box_from_mask(mask(c, t))
                            elif source == "detector":
                                box = model.detect_person(image)
                            elif t > 0 and joints is not None:
                                box = box_from_keypoints(joints[c, t - 1], conf[c, t - 1], ocfg.min_keypoint_confidence)
                            if box is not None:
                                break
                        if box is not None:
                            images.append(image)
                            kept.append(t)
                            kept_boxes.append(box)
                    if not kept:
                        continue
                    uv, cf = model(np.stack(images), np.stack(kept_boxes))
                    if joints is None:
                        joints, conf = np.zeros((C, T, uv.shape[1], 2)), np.zeros((C, T, uv.shape[1]))
                    joints[c, kept], conf[c, kept] = uv, cf
                    b = np.stack(kept_boxes)
                    boxes[c, kept] = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)
        finally:
            if mfile is not None:
                mfile.close()
    if joints is None:
        raise NtopError("no person box was found in any frame", capture_path, "keypoints.onnx.box_source")
    inputs = [capture_path, frames_path, ocfg.model] + ([masks_path] if masks_path is not None else [])
    _write(
        out,
        cfg.joint_set,
        cameras,
        frame_index,
        joints,
        conf,
        boxes,
        {"backend": "onnx", "joint_set": cfg.joint_set, "onnx": asdict(ocfg)},
        inputs,
        {},
    )
    return {
        "cameras": C,
        "frames": T,
        "detected": int((conf > 0).any(-1).sum()),
        "mean_confidence": float(conf[conf > 0].mean()) if (conf > 0).any() else 0.0,
    }


def _detect_blazepose(capture_path: str | Path, out: str | Path, cfg: DetectConfig, frames_path: Path | None) -> dict[str, Any]:
    """Everyone in every view, then the subject: the one person whose detections agree across views."""
    if frames_path is None:
        raise NtopError("the blazepose backend reads images: give the capture's frames.h5", field="frames")
    if cfg.joint_set != "coco17":
        raise NtopError(f"BlazePose gives coco17, not {cfg.joint_set}", field="keypoints.joint_set")
    bcfg = settings_from_dict(BlazePoseConfig, cfg.blazepose, "keypoints.blazepose")
    scfg = SubjectConfig.from_dict(cfg.subject)
    model = BlazePose(bcfg.variant, bcfg.min_detection, bcfg.min_presence, threads=bcfg.threads)
    with Capture(capture_path, frames_path) as cap:
        cameras, frame_index = cap.cameras, cap.frame_index
        people = [track_people(cap.frames(c), bcfg, model) for c in range(len(cameras))]
        found = {k: np.stack([p[k] for p in people]) for k in people[0]}  # (C, T, P, ...)
        if (found["track"] < 0).all():
            message = f"BlazePose found no person in any of the {len(frame_index)} frames of {len(cameras)} camera(s)"
            raise NtopError(message, frames_path, "frames")
        look = lambda c, t, expected: model.look_at(cap.frame(c, t), expected)  # noqa: E731
        subject = subject_keypoints(cameras, found, look, scfg, str(capture_path))
    joints, conf = subject.uv, subject.conf
    extra = {f"candidates/{k}": v for k, v in found.items()} | {"chosen": subject.chosen, "swapped_left_right": subject.swapped}
    extra["filled_from_other_views"] = subject.filled
    params = {"backend": "blazepose", "joint_set": cfg.joint_set, "blazepose": asdict(bcfg), "subject": asdict(scfg)}
    inputs = [capture_path, frames_path]
    _write(out, cfg.joint_set, cameras, frame_index, joints, conf, _boxes(joints, conf), params, inputs, extra)
    seen = (conf > 0).any(-1)
    tracks = [len(np.unique(t[t >= 0])) for t in found["track"]]
    return {
        "cameras": len(cameras),
        "frames": int(len(frame_index)),
        "detected": int(seen.sum()),
        "people_followed_per_view": tracks,
        "swapped_left_right": subject.swapped.sum(1).tolist(),
        "filled_from_other_views": subject.filled.sum(1).tolist(),
        "subject": subject.report,
    }
