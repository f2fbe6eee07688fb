"""A calibrated rig of one's own: a folder of per-camera videos (or image folders) and a cameras file.

Layout of one subject/action (``raw:`` in the config points here)::

    intri.yml + extri.yml     OpenCV FileStorage, EasyMocap's convention: ``names`` (camera names),
                              ``K_<name>`` (3x3), ``dist_<name>`` (1x5, OpenCV k1 k2 p1 p2 k3),
                              ``R_<name>`` (Rodrigues 3x1) or ``Rot_<name>`` (3x3), ``T_<name>`` (3x1, metres)
    or cameras.json           [{"name", "K" (3x3), "dist", "R" (3x3), "T" (metres)}, ...]
    videos/<name>.<mp4|avi|mov|mkv>   or   images/<name>/<frames in name order>

Extrinsics map world to camera (x_cam = R x_world + T), OpenCV's pinhole model with its distortion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ntop.datasets.canonical import AdapterContext, RawCapture, pinhole_camera
from ntop.errors import NtopError
from ntop.io import count_frames, read_frames, video_fps

__all__ = ["open_rig", "read_rig_cameras", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def _matrix(fs: cv2.FileStorage, key: str, path: Path, shape: tuple[int, ...] | None) -> np.ndarray:
    """A matrix node of ``shape`` (None: any size, flattened)."""
    node = fs.getNode(key)
    m = None if node.empty() else node.mat()
    if m is None:
        raise NtopError("missing", path, key)
    if shape is None:
        return np.asarray(m, dtype=np.float64).reshape(-1)
    if m.size != int(np.prod(shape)):
        raise NtopError(f"has {m.size} values, expected {int(np.prod(shape))}", path, key)
    return np.asarray(m, dtype=np.float64).reshape(shape)


def _read_yaml(intri: Path, extri: Path) -> list[dict[str, Any]]:
    for p in (intri, extri):
        if not p.is_file():
            raise NtopError("missing", p)
    fi, fe = cv2.FileStorage(str(intri), cv2.FILE_STORAGE_READ), cv2.FileStorage(str(extri), cv2.FILE_STORAGE_READ)
    try:
        node = fi.getNode("names")
        if node.empty():
            raise NtopError("missing", intri, "names")
        names = [node.at(i).string() for i in range(node.size())]
        cams = []
        for n in names:
            dist = _matrix(fi, f"dist_{n}", intri, None) if not fi.getNode(f"dist_{n}").empty() else np.zeros(5)
            if not fe.getNode(f"Rot_{n}").empty():
                R = _matrix(fe, f"Rot_{n}", extri, (3, 3))
            else:
                R = cv2.Rodrigues(_matrix(fe, f"R_{n}", extri, (3, 1)))[0]
            cams.append({"name": n, "K": _matrix(fi, f"K_{n}", intri, (3, 3)), "dist": dist, "R": R, "T": _matrix(fe, f"T_{n}", extri, (3,))})
        return cams
    finally:
        fi.release()
        fe.release()


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        items = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise NtopError(f"not valid JSON ({e})", path) from None
    if not isinstance(items, list) or not items:
        raise NtopError("must be a non-empty list of cameras", path)
    cams = []
    for i, d in enumerate(items):
        for key in ("name", "K", "R", "T"):
            if key not in d:
                raise NtopError(f"camera {i}: missing", path, key)
        try:
            cams.append({"name": str(d["name"]), "K": np.asarray(d["K"], float).reshape(3, 3), "dist": np.asarray(d.get("dist", [0] * 5), float).reshape(-1),
                         "R": np.asarray(d["R"], float).reshape(3, 3), "T": np.asarray(d["T"], float).reshape(3)})  # fmt: skip
        except ValueError as e:
            raise NtopError(f"camera {i}: {e}", path) from None
    return cams


def read_rig_cameras(raw_dir: Path) -> list[dict[str, Any]]:
    """Camera entries (name, K, dist, R, T) from ``intri.yml``/``extri.yml`` or ``cameras.json``."""
    if (raw_dir / "cameras.json").is_file():
        return _read_json(raw_dir / "cameras.json")
    return _read_yaml(raw_dir / "intri.yml", raw_dir / "extri.yml")


def _stream(raw_dir: Path, name: str) -> Path:
    for suffix in VIDEO_SUFFIXES:
        if (raw_dir / "videos" / f"{name}{suffix}").is_file():
            return raw_dir / "videos" / f"{name}{suffix}"
    if (raw_dir / "images" / name).is_dir():
        return raw_dir / "images" / name
    raise NtopError(f"no video or image folder for camera {name}", raw_dir, f"videos/{name}.mp4")


def open_rig(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    raw_dir = Path(raw_dir)
    entries = read_rig_cameras(raw_dir)
    paths = [_stream(raw_dir, e["name"]) for e in entries]
    counts = [count_frames(p) for p in paths]
    if len(set(counts)) != 1 or counts[0] == 0:
        raise NtopError(f"cameras have different frame counts {dict(zip([e['name'] for e in entries], counts))}", raw_dir, "frames")
    cams = []
    for e, p in zip(entries, paths):
        _, first = next(iter(read_frames(p, [0])))
        cams.append(pinhole_camera(e["name"], e["K"], e["dist"], e["R"], e["T"], first.shape[1], first.shape[0], raw_dir))
    fps = video_fps(paths[0])

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_frames(paths[camera], indices)

    return RawCapture(subject=subject, action=action, source="rig", fps=fps, num_frames=counts[0], cameras=cams, read=read, inputs=[str(raw_dir)])
