"""The ingest stage: any supported capture -> the canonical capture (frame range and stride applied)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ntop.datasets.canonical import AdapterContext, RawCapture, write_capture
from ntop.datasets.genebody import open_genebody
from ntop.datasets.h36m import open_h36m
from ntop.datasets.rescale import rescaled
from ntop.datasets.rig import open_rig
from ntop.datasets.synthetic.raw import open_raw as open_synthetic
from ntop.datasets.timing import synchronised
from ntop.datasets.video import open_video
from ntop.datasets.zju_mocap import open_zju_mocap
from ntop.errors import NtopError

__all__ = ["ADAPTERS", "ingest"]

ADAPTERS: dict[str, Callable[[Path, str, str, AdapterContext], RawCapture]] = {
    "synthetic": open_synthetic,
    "genebody": open_genebody,
    "h36m": open_h36m,
    "rig": open_rig,
    "video": open_video,
    "zju_mocap": open_zju_mocap,
}


def ingest(
    source: str,
    raw_path: str | Path,
    subject: str,
    action: str,
    capture_out: str | Path,
    frames_out: str | Path,
    *,
    start: int = 0,
    stop: int | None = None,
    stride: int = 1,
    image_format: str = "png",
    context: AdapterContext | None = None,
    scale: float = 1.0,
    time_offsets: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Convert one subject/action (frames resized by ``scale``, cameras shifted in time by ``time_offsets``,
    see ``ntop.datasets.timing``); returns a short summary for the log."""
    if source not in ADAPTERS:
        raise NtopError(f"unknown source {source!r}; known: {', '.join(ADAPTERS)}", field="source")
    if stride < 1 or start < 0:
        raise NtopError("stride must be >= 1 and start >= 0", field="ingest")
    if image_format not in ("png", "jpg"):
        raise NtopError("must be png or jpg", field="ingest.image_format")
    context = context or AdapterContext()
    raw = rescaled(synchronised(ADAPTERS[source](Path(raw_path), subject, action, context), time_offsets), scale)
    stop = raw.num_frames if stop is None else min(stop, raw.num_frames)
    index = np.arange(start, stop, stride)
    if len(index) == 0:
        raise NtopError(
            f"no frames selected from {raw.num_frames} (start {start}, stop {stop}, stride {stride})", raw_path, "ingest"
        )
    params = {
        "source": source,
        "subject": subject,
        "action": action,
        "start": start,
        "stop": stop,
        "stride": stride,
        "image_format": image_format,
        "scale": scale,
        "time_offsets": time_offsets or {},
        "adapter": context.settings,
    }
    write_capture(raw, capture_out, frames_out, index, params, image_format)
    return {"frames": int(len(index)), "cameras": [c.name for c in raw.cameras], **raw.notes}
