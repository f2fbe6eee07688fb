"""The canonical capture every adapter produces: ``capture.h5`` (cameras, frame index, ground truth
when known) and ``frames.h5`` (losslessly encoded frames per camera).

Downstream stages read only this, through :class:`Capture`, whatever the dataset was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.io import FrameStore, create_stage, encode_image, open_stage, read_cameras, require, write_cameras

__all__ = ["CAPTURE_SCHEMA", "FRAMES_SCHEMA", "RawCapture", "write_capture", "Capture"]

CAPTURE_SCHEMA = "capture"
FRAMES_SCHEMA = "frames"


@dataclass
class RawCapture:
    """What an adapter hands to ingest: cameras, a frame reader per camera, and optional ground truth.

    ``read(camera_index, frame_indices)`` yields ``(frame_index, rgb)``; ``gt`` maps dataset paths
    (``smpl/betas``, ``joints2d/coco17``, ...) to arrays whose frame axis is ``gt_frame_axis[path]``.
    """

    subject: str
    action: str
    source: str
    fps: float
    num_frames: int
    cameras: list[Camera]
    read: Any
    inputs: list[str] = field(default_factory=list)
    gt: dict[str, np.ndarray] = field(default_factory=dict)
    gt_frame_axis: dict[str, int | None] = field(default_factory=dict)


def write_capture(raw: RawCapture, capture_path: str | Path, frames_path: str | Path, frame_index: np.ndarray, params: dict[str, Any], image_format: str = "png") -> None:
    """Write both canonical files; each appears only once complete."""
    frame_index = np.asarray(frame_index, dtype=np.int64)
    with create_stage(frames_path, FRAMES_SCHEMA, 1, params=params, inputs=raw.inputs) as f:
        store = FrameStore(f.create_group("frames"))
        for c, cam in enumerate(raw.cameras):
            ds = store.create(cam.name, len(frame_index), image_format)
            for k, (i, rgb) in enumerate(raw.read(c, frame_index)):
                if rgb.shape[:2] != (cam.height, cam.width):
                    raise NtopError(f"frame {i} is {rgb.shape[1]}x{rgb.shape[0]}, camera says {cam.width}x{cam.height}", raw.inputs[0] if raw.inputs else None, f"cameras/{cam.name}")
                ds[k] = encode_image(rgb, image_format)
        f.create_dataset("frame_index", data=frame_index)
    with create_stage(capture_path, CAPTURE_SCHEMA, 1, params=params, inputs=raw.inputs) as f:
        f.attrs.update(subject=raw.subject, action=raw.action, source=raw.source, fps=raw.fps)
        f.create_dataset("frame_index", data=frame_index)
        write_cameras(f.create_group("cameras"), raw.cameras)
        for path, arr in raw.gt.items():
            axis = raw.gt_frame_axis.get(path)
            data = arr if axis is None else np.take(arr, frame_index, axis=axis)
            kw = {"chunks": True, "compression": "gzip", "compression_opts": 4} if data.ndim >= 3 and data.size > 1e5 else {}
            f.create_dataset(f"gt/{path}", data=data, **kw)


class Capture:
    """Read access to a canonical capture (and its frames, when given)."""

    def __init__(self, capture_path: str | Path, frames_path: str | Path | None = None):
        self.path = Path(capture_path)
        self.h5 = open_stage(self.path, CAPTURE_SCHEMA)
        self.cameras: list[Camera] = read_cameras(require(self.h5, "cameras"))
        self.frame_index: np.ndarray = require(self.h5, "frame_index")[()]
        self.subject = str(self.h5.attrs.get("subject", ""))
        self.action = str(self.h5.attrs.get("action", ""))
        self.fps = float(self.h5.attrs.get("fps", 0.0))
        self.frames_h5: h5py.File | None = None
        if frames_path is not None:
            self.frames_h5 = open_stage(frames_path, FRAMES_SCHEMA)
            n = len(require(self.frames_h5, "frame_index"))
            if n != len(self.frame_index):
                raise NtopError(f"has {n} frames, the capture has {len(self.frame_index)}", frames_path, "frame_index")

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.h5.close()
        if self.frames_h5 is not None:
            self.frames_h5.close()

    @property
    def has_gt(self) -> bool:
        return "gt" in self.h5

    def gt(self, path: str) -> np.ndarray:
        return require(self.h5, f"gt/{path}")[()]

    def gt_keys(self, group: str) -> list[str]:
        return list(require(self.h5, f"gt/{group}").keys())

    def frame(self, camera: int, k: int) -> np.ndarray:
        """RGB frame ``k`` (position in ``frame_index``) of camera number ``camera``."""
        if self.frames_h5 is None:
            raise NtopError("no frames file was opened with this capture", self.path)
        return FrameStore(self.frames_h5["frames"]).read(self.cameras[camera].name, k)

    def frames(self, camera: int) -> Iterator[np.ndarray]:
        for k in range(len(self.frame_index)):
            yield self.frame(camera, k)

    def summary(self) -> dict[str, Any]:
        return {"subject": self.subject, "action": self.action, "frames": int(len(self.frame_index)),
                "cameras": [c.name for c in self.cameras], "fps": self.fps, "ground_truth": self.has_gt}  # fmt: skip

