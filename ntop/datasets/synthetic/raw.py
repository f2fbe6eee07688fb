"""Read the synthetic capture's raw layout (``meta.json``, ``cameras.json``, videos or images, ``gt.h5``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ntop.cameras import Camera, CameraError
from ntop.datasets.canonical import AdapterContext, RawCapture
from ntop.datasets.synthetic.capture import GT_SCHEMA
from ntop.errors import NtopError
from ntop.io import count_frames, open_stage, read_frames

__all__ = ["open_raw"]

# ground-truth datasets and the axis that runs over frames (None: not per frame)
_GT_FRAME_AXIS = {
    "smpl/global_orient": 0,
    "smpl/body_pose": 0,
    "smpl/betas": None,
    "smpl/transl": 0,
    "joints3d": 0,
    "joints2d": 1,
    "visibility": 1,
    "masks": 1,
    "depth": 1,
}


def _json(path: Path) -> Any:
    if not path.is_file():
        raise NtopError("missing", path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise NtopError(f"not valid JSON ({e})", path) from None


def open_raw(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    raw_dir = Path(raw_dir)
    meta = _json(raw_dir / "meta.json")
    for key in ("fps", "num_frames", "format", "cameras"):
        if key not in meta:
            raise NtopError("missing", raw_dir / "meta.json", key)
    try:
        cams = [Camera.from_dict(d, where=f"camera {i}") for i, d in enumerate(_json(raw_dir / "cameras.json"))]
    except CameraError as e:
        raise NtopError(str(e), raw_dir / "cameras.json") from None
    names = [c.name for c in cams]
    if names != list(meta["cameras"]):
        raise NtopError(f"cameras {meta['cameras']} but cameras.json has {names}", raw_dir / "meta.json", "cameras")
    paths = [raw_dir / "videos" / f"{n}.avi" if meta["format"] == "video" else raw_dir / "images" / n for n in names]
    for p in paths:
        if not p.exists():
            raise NtopError("missing camera stream", p)
        n = count_frames(p)
        if n != meta["num_frames"]:
            raise NtopError(f"has {n} frames, meta.json says {meta['num_frames']}", p, "num_frames")
    gt: dict[str, np.ndarray] = {}
    axes: dict[str, int | None] = {}
    with open_stage(raw_dir / "gt.h5", GT_SCHEMA) as f:
        for group, axis in _GT_FRAME_AXIS.items():
            if group not in f:
                raise NtopError("missing", raw_dir / "gt.h5", group)
            items = {group: f[group]} if not hasattr(f[group], "keys") else {f"{group}/{k}": v for k, v in f[group].items()}
            for key, ds in items.items():
                gt[key], axes[key] = ds[()], axis

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_frames(paths[camera], indices)

    return RawCapture(
        subject=subject,
        action=action,
        source="synthetic",
        fps=float(meta["fps"]),
        num_frames=int(meta["num_frames"]),
        cameras=cams,
        read=read,
        inputs=[str(raw_dir)],
        gt=gt,
        gt_frame_axis=axes,
    )
