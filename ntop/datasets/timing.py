"""Cameras whose videos do not start on the same moment: each camera's frames shifted by its own offset
at ingest (``subjects.<name>.time_offsets``), so that frame t of every camera shows one instant.

An offset of +3 for a camera means its frame t + 3 shows what the others show at frame t. Only the
differences between offsets matter; the ingested capture keeps the frames every camera has (a spread
of 4 frames costs 4 frames). The offsets come from what the user knows (a clap, a flash, timecode,
Pose2Sim's synchronisation step). ntop does not guess them from the keypoints: on slow motion a few
frames of offset and a few centimetres of calibration error move the joints alike, and on Pose2Sim's
trial the keypoints asked for 4 frames on a camera that is in step (benchmarks/RESULTS.md, session 21).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ntop.datasets.canonical import RawCapture
from ntop.errors import NtopError

__all__ = ["OFFSET_NOTE", "synchronised"]

OFFSET_NOTE = "time_offset_"  # capture attribute per camera: the offset ingest applied (frames)


def _refuse_per_frame_labels(raw: RawCapture) -> None:
    """A dataset's per-frame labels belong to one clock; shifting cameras apart would leave them on none."""
    labelled = [k for k, axis in raw.gt_frame_axis.items() if axis is not None and k in raw.gt]
    labelled += [k for k in raw.annotations if not k.endswith("/betas")]
    labelled += ["masks"] if raw.read_masks is not None else []
    if labelled:
        raise NtopError(
            f"cannot shift cameras of a capture with per-frame labels ({', '.join(sorted(labelled)[:3])}): "
            "time offsets are for raw videos",
            raw.inputs[0] if raw.inputs else None,
            "time_offsets",
        )


def synchronised(raw: RawCapture, offsets: dict[str, int] | None) -> RawCapture:
    """``raw`` with camera c's frame t read from its frame t + offsets[c] - min(offsets) (missing: 0)."""
    if not offsets:
        return raw
    names = [cam.name for cam in raw.cameras]
    where = raw.inputs[0] if raw.inputs else None
    unknown = sorted(set(offsets) - set(names))
    if unknown:
        raise NtopError(f"camera {', '.join(unknown)} is not in the capture (cameras: {', '.join(names)})", where, "time_offsets")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in offsets.values()):
        raise NtopError(f"offsets are whole frames, got {offsets}", where, "time_offsets")
    _refuse_per_frame_labels(raw)
    shift = np.array([offsets.get(n, 0) for n in names], dtype=np.int64)
    shift -= shift.min()
    frames = raw.num_frames - int(shift.max())
    if frames < 1:
        raise NtopError(f"offsets {offsets} leave no frame that every camera has ({raw.num_frames} frames)", where, "time_offsets")

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        yield from raw.read(camera, np.asarray(indices) + shift[camera])

    notes = {f"{OFFSET_NOTE}{n}": float(offsets.get(n, 0)) for n in names}
    return replace(raw, read=read, num_frames=frames, notes={**raw.notes, **notes})
