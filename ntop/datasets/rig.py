"""A calibrated rig of one's own: a folder of per-camera videos (or image folders) and a calibration file.

Layout of one subject/action (``raw:`` in the config points here)::

    a calibration file        EasyMocap's intri.yml + extri.yml, cameras.json, the Calib.toml of
                              Pose2Sim/anipose/FreeMoCap/Caliscope, or Qualisys' .qca.txt, at the top or
                              in calibration/ (:mod:`ntop.datasets.calibfiles`; ``adapter: {calibration:
                              <path inside raw>}`` picks one)
    videos/<name>.<mp4|avi|mov|mkv>   or   images/<name>/<frames in name order>

Every camera the calibration names must have its stream. Frames may be smaller than the calibration
says by a whole factor (``K`` is scaled) or by up to 1 % (kept as is). Portrait videos are fine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ntop.cameras import Camera, CameraError
from ntop.datasets.calibfiles import CameraEntry, find_calibration, read_calibration
from ntop.datasets.canonical import AdapterContext, RawCapture, pinhole_camera
from ntop.errors import NtopError
from ntop.io import count_frames, read_frames, video_fps

__all__ = ["open_rig", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def _frame_size(entry: CameraEntry, frame: np.ndarray, source: Path) -> tuple[np.ndarray, int, int]:
    """``K`` for the stream's frame size. A stream at a fraction of the calibrated size (binning, a
    downscaled export) scales ``K``; one a few pixels narrower or shorter than the calibration window
    (the trial's 1080-pixel videos of a 1088-pixel window) keeps it: on Pose2Sim's trial, scaling or
    re-centring them did not lower the reprojection error. Anything else is a wrong file."""
    h, w = frame.shape[:2]
    if entry.size is None or entry.size == (w, h):
        return entry.K, w, h
    cw, ch = entry.size
    if abs(w / cw - h / ch) < 1e-3:
        s = w / cw
        K = entry.K.copy()
        K[:2, :2] *= s
        K[:2, 2] = (K[:2, 2] + 0.5) * s - 0.5  # pixel centres stay pixel centres
        return K, w, h
    if abs(w - cw) <= 0.01 * cw and abs(h - ch) <= 0.01 * ch:
        return entry.K, w, h
    raise NtopError(
        f"frames are {w}x{h}, the calibration says {cw}x{ch} for camera {entry.name}", source, f"cameras/{entry.name}/size"
    )


def _stream(raw_dir: Path, name: str, calibration: Path) -> Path:
    for suffix in VIDEO_SUFFIXES:
        if (raw_dir / "videos" / f"{name}{suffix}").is_file():
            return raw_dir / "videos" / f"{name}{suffix}"
    if (raw_dir / "images" / name).is_dir():
        return raw_dir / "images" / name
    raise NtopError(
        f"the calibration has camera {name!r}, but {raw_dir} has no videos/{name}.<{'|'.join(s[1:] for s in VIDEO_SUFFIXES)}>"
        f" or images/{name}/",
        calibration,
        name,
    )


def _camera(entry: CameraEntry, stream: Path, calibration: Path) -> Camera:
    _, first = next(iter(read_frames(stream, [0])))
    K, w, h = _frame_size(entry, first, calibration)
    if not entry.fisheye:
        return pinhole_camera(entry.name, K, entry.dist, entry.R, entry.T, w, h, calibration)
    try:
        return Camera(
            "opencv_fisheye", [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], w, h, entry.dist[:4], entry.R, entry.T, name=entry.name
        )
    except CameraError as e:
        raise NtopError(str(e), calibration) from None


def open_rig(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    raw_dir = Path(raw_dir)
    calibration = find_calibration(raw_dir, (context.settings if context else {}).get("calibration"))
    entries = read_calibration(calibration)
    paths = [_stream(raw_dir, e.name, calibration) for e in entries]
    counts = [count_frames(p) for p in paths]
    if len(set(counts)) != 1 or counts[0] == 0:
        raise NtopError(f"cameras have different frame counts {dict(zip([e.name for e in entries], counts))}", raw_dir, "frames")
    cams = [_camera(e, p, calibration) for e, p in zip(entries, paths)]
    fps = video_fps(paths[0])

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_frames(paths[camera], indices)

    return RawCapture(
        subject=subject,
        action=action,
        source="rig",
        fps=fps,
        num_frames=counts[0],
        cameras=cams,
        read=read,
        inputs=[str(raw_dir)],
    )
