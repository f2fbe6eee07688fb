"""Captures ingested at a lower resolution (``ingest.scale``): 1920-pixel frames are heavy on a CPU, and
every later stage works in the canonical capture's pixels."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ntop.datasets.canonical import RawCapture
from ntop.errors import NtopError

__all__ = ["rescaled"]

#: ground truth whose values are pixels (scaled) and whose arrays are images (refused: resampling labels is lossy)
_PIXEL_KEYS = ("joints2d/", "keypoints2d/")
_IMAGE_KEYS = ("masks", "depth")


def _pixels(uv: np.ndarray, factor: float) -> np.ndarray:
    """Pixel coordinates at ``factor`` times the resolution (pixel centres stay pixel centres)."""
    return (uv + 0.5) * factor - 0.5


def _scaled_arrays(arrays: dict[str, np.ndarray], factor: float) -> dict[str, np.ndarray]:
    out = {}
    for key, value in arrays.items():
        if key.startswith(_PIXEL_KEYS) and not key.endswith("confidence"):
            value = _pixels(value, factor)
        out[key] = value
    return out


def rescaled(raw: RawCapture, factor: float) -> RawCapture:
    """``raw`` with cameras, frames, the dataset's masks and its 2D keypoints at ``factor`` times the resolution."""
    if not 0 < factor <= 1:
        raise NtopError(f"must lie in (0, 1], got {factor}", field="ingest.scale")
    if factor == 1:
        return raw
    image_gt = [k for k in raw.gt if k.split("/")[0] in _IMAGE_KEYS]
    if image_gt:
        raise NtopError(
            f"cannot rescale a capture with image ground truth ({', '.join(image_gt)}): set its own size instead",
            raw.inputs[0] if raw.inputs else None,
            "ingest.scale",
        )
    cameras = [cam.scaled(factor) for cam in raw.cameras]

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        size = (cameras[camera].width, cameras[camera].height)
        for i, rgb in raw.read(camera, indices):
            yield i, cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)

    def read_masks(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, mask)
        size = (cameras[camera].width, cameras[camera].height)
        for i, mask in raw.read_masks(camera, indices):
            yield i, cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0

    return replace(
        raw,
        cameras=cameras,
        read=read,
        read_masks=read_masks if raw.read_masks is not None else None,
        gt=_scaled_arrays(raw.gt, factor),
        annotations=_scaled_arrays(raw.annotations, factor),
        notes={**raw.notes, "ingest_scale": factor},
    )
