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

from ntop.cameras import Camera, CameraError
from ntop.errors import NtopError
from ntop.io import FrameStore, create_stage, encode_image, open_stage, read_cameras, require, write_cameras

__all__ = [
    "CAPTURE_SCHEMA",
    "FRAMES_SCHEMA",
    "AdapterContext",
    "RawCapture",
    "as_array",
    "load_npy_dict",
    "pinhole_camera",
    "write_capture",
    "Capture",
]

CAPTURE_SCHEMA = "capture"
FRAMES_SCHEMA = "frames"


def pinhole_camera(
    name: str, K: np.ndarray, dist: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int, source: str | Path
) -> Camera:
    """An OpenCV pinhole camera from a dataset's 3x3 ``K`` (``t`` in metres); a bad one names ``source``."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    dist = np.asarray(dist, dtype=np.float64).reshape(-1)
    dist = np.concatenate([dist, np.zeros(max(0, 5 - dist.size))])[:5]
    try:
        return Camera("pinhole", [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], int(width), int(height), dist, R, t, name=name)
    except CameraError as e:
        raise NtopError(str(e), source) from None


def as_array(value: Any, shape: tuple[int, ...], path: str | Path, field: str) -> np.ndarray:
    """A dataset's numbers as float64 of ``shape``; missing or misshapen ones name the file and field."""
    try:
        if value is None:
            raise ValueError
        return np.asarray(value, dtype=np.float64).reshape(shape)
    except (ValueError, TypeError):
        raise NtopError(f"missing or not of shape {shape}", path, field) from None


def load_npy_dict(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """A pickled dict saved with ``np.save`` (both ZJU-MoCap and GeneBody use them), with ``keys`` checked."""
    if not path.is_file():
        raise NtopError("missing", path)
    try:
        d = np.load(path, allow_pickle=True).item()
    except (ValueError, OSError, EOFError) as e:
        raise NtopError(f"not a pickled dictionary ({e})", path) from None
    if not isinstance(d, dict):
        raise NtopError("not a pickled dictionary", path)
    for k in keys:
        if k not in d:
            raise NtopError("missing", path, k)
    return d


@dataclass
class AdapterContext:
    """What an adapter may need beyond its files: the subject's ``adapter:`` settings and the body
    model (datasets whose SMPL convention differs from SMPL's own are converted with it)."""

    settings: dict[str, Any] = field(default_factory=dict)
    body: Any = None  # ntop.body.BodyModel

    def require_body(self, source: str) -> Any:
        if self.body is None:
            raise NtopError(f"the {source} adapter converts the dataset's bodies and needs the body model", field="--body-model")
        return self.body


@dataclass
class RawCapture:
    """What an adapter hands to ingest: cameras, a frame reader per camera, and what the dataset knows.

    ``read(camera_index, frame_indices)`` yields ``(frame_index, rgb)``; ``read_masks`` likewise yields
    the dataset's own masks ``(frame_index, bool HxW)``. ``gt`` maps ground-truth paths (``smpl/betas``,
    ``joints2d/coco17``, ...) to arrays whose frame axis is ``gt_frame_axis[path]``. ``annotations``
    are the dataset's own labels, not ground truth (``smpl/*`` with ``pelvis``, ``poses3d/*``): per
    raw frame on axis 0, except ``smpl/betas``. ``notes`` are figures of the conversion (capture attributes).
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
    annotations: dict[str, np.ndarray] = field(default_factory=dict)
    read_masks: Any = None
    notes: dict[str, float] = field(default_factory=dict)  # conversion figures worth keeping (capture attrs)


def _write_arrays(
    f: h5py.File, prefix: str, arrays: dict[str, np.ndarray], axes: dict[str, int | None], index: np.ndarray
) -> None:
    for path, arr in arrays.items():
        axis = axes.get(path)
        data = arr if axis is None else np.take(arr, index, axis=axis)
        kw = {"chunks": True, "compression": "gzip", "compression_opts": 4} if data.ndim >= 3 and data.size > 1e5 else {}
        f.create_dataset(f"{prefix}{path}", data=data, **kw)


def write_capture(
    raw: RawCapture,
    capture_path: str | Path,
    frames_path: str | Path,
    frame_index: np.ndarray,
    params: dict[str, Any],
    image_format: str = "png",
) -> None:
    """Write both canonical files; they appear only once both are complete."""
    frame_index = np.asarray(frame_index, dtype=np.int64)
    with create_stage(frames_path, FRAMES_SCHEMA, 1, params=params, inputs=raw.inputs) as f:
        store = FrameStore(f.create_group("frames"))
        for c, cam in enumerate(raw.cameras):
            ds = store.create(cam.name, len(frame_index), image_format)
            for k, (i, rgb) in enumerate(raw.read(c, frame_index)):
                if rgb.shape[:2] != (cam.height, cam.width):
                    raise NtopError(
                        f"frame {i} is {rgb.shape[1]}x{rgb.shape[0]}, camera says {cam.width}x{cam.height}",
                        raw.inputs[0] if raw.inputs else None,
                        f"cameras/{cam.name}",
                    )
                ds[k] = encode_image(rgb, image_format)
        f.create_dataset("frame_index", data=frame_index)
    try:
        _write_capture_file(raw, capture_path, frame_index, params)
    except BaseException:
        Path(frames_path).unlink(missing_ok=True)  # the pair appears together or not at all
        raise


def _write_capture_file(raw: RawCapture, capture_path: str | Path, frame_index: np.ndarray, params: dict[str, Any]) -> None:
    with create_stage(capture_path, CAPTURE_SCHEMA, 1, params=params, inputs=raw.inputs) as f:
        f.attrs.update(subject=raw.subject, action=raw.action, source=raw.source, fps=raw.fps, **raw.notes)
        f.create_dataset("frame_index", data=frame_index)
        write_cameras(f.create_group("cameras"), raw.cameras)
        _write_arrays(f, "gt/", raw.gt, raw.gt_frame_axis, frame_index)
        _write_arrays(f, "", raw.annotations, {k: None if k.endswith("/betas") else 0 for k in raw.annotations}, frame_index)
        if raw.read_masks is not None:
            for c, cam in enumerate(raw.cameras):
                shape = (len(frame_index), cam.height, cam.width)
                ds = f.create_dataset(
                    f"masks/{cam.name}", shape, np.uint8, chunks=(1,) + shape[1:], compression="gzip", compression_opts=4
                )
                ds.attrs["meaning"] = "the dataset's own masks: 1 where the person is"
                for k, (i, mask) in enumerate(raw.read_masks(c, frame_index)):
                    if mask.shape != shape[1:]:
                        raise NtopError(
                            f"mask of frame {i} is {mask.shape[1]}x{mask.shape[0]}, camera says {cam.width}x{cam.height}",
                            raw.inputs[0] if raw.inputs else None,
                            f"masks/{cam.name}",
                        )
                    ds[k] = mask


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

    def masks(self) -> list[Any] | None:
        """The capture's own masks per camera, ``(T, H, W)`` arrays or still-unread HDF5 datasets (the
        dataset's, else the ground truth), or None. ``masks[c][t]`` reads one frame."""
        if "masks" in self.h5:
            return [require(self.h5, f"masks/{c.name}") for c in self.cameras]
        if "gt/masks" in self.h5:
            return list(self.h5["gt/masks"][()])
        return None

    def frame(self, camera: int, k: int) -> np.ndarray:
        """RGB frame ``k`` (position in ``frame_index``) of camera number ``camera``."""
        if self.frames_h5 is None:
            raise NtopError("no frames file was opened with this capture", self.path)
        return FrameStore(self.frames_h5["frames"]).read(self.cameras[camera].name, k)

    def frames(self, camera: int) -> Iterator[np.ndarray]:
        for k in range(len(self.frame_index)):
            yield self.frame(camera, k)

    def summary(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "action": self.action,
            "frames": int(len(self.frame_index)),
            "cameras": [c.name for c in self.cameras],
            "fps": self.fps,
            "ground_truth": self.has_gt,
        }
