"""Calibration files that rigs' own tools write, each read into the same per-camera entries.

- ``intri.yml`` + ``extri.yml``: OpenCV FileStorage, EasyMocap's keys (``names``, ``K_<n>``, ``dist_<n>``,
  ``R_<n>`` Rodrigues or ``Rot_<n>`` 3x3, ``T_<n>`` metres);
- ``cameras.json``: ``[{"name", "K" (3x3), "dist", "R" (3x3), "T" (metres)}, ...]``;
- ``*.toml``: what Pose2Sim, anipose, FreeMoCap and Caliscope write: a table per camera with ``name``,
  ``size = [w, h]``, ``matrix`` (3x3), ``distortions`` (k1 k2 p1 p2), ``rotation`` (Rodrigues),
  ``translation`` (metres), ``fisheye`` (bool); other tables (``metadata``) are skipped;
- ``*.qca.txt``: Qualisys Track Manager's XML export (see :func:`read_qualisys`).

Every entry maps world to camera (``x_cam = R x_world + T``, OpenCV's axes: x right, y down, z forward).
"""

from __future__ import annotations

import json
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ntop.errors import NtopError

__all__ = ["CameraEntry", "CALIBRATION_PATTERNS", "find_calibration", "read_calibration", "read_qualisys", "read_calib_toml"]

#: where a rig's calibration is looked for, in this order, under its raw folder
CALIBRATION_PATTERNS = ("cameras.json", "intri.yml", "*.toml", "calibration/*.toml", "*.qca.txt", "calibration/*.qca.txt")

#: Qualisys stores focal lengths and principal points in 1/64 sensor pixel
QUALISYS_SUBPIXELS = 64.0
#: Qualisys cameras look along -z with y up; OpenCV's look along +z with y down
_QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass
class CameraEntry:
    """One camera of a calibration file, world to camera, OpenCV's axes and distortion order."""

    name: str
    K: np.ndarray  # (3, 3) pixels
    dist: np.ndarray  # k1 k2 p1 p2 [k3] (pinhole) or k1..k4 (fisheye)
    R: np.ndarray  # (3, 3)
    T: np.ndarray  # (3,) metres
    size: tuple[int, int] | None = None  # (width, height) the calibration was made at, when the file says
    fisheye: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


def find_calibration(raw_dir: Path, explicit: str | None = None) -> Path:
    """The calibration file of a rig folder: ``explicit`` (relative to it) or the first of
    :data:`CALIBRATION_PATTERNS` that exists."""
    if explicit:
        path = raw_dir / explicit
        if not path.is_file():
            raise NtopError("calibration file not found", path, "adapter.calibration")
        return path
    for pattern in CALIBRATION_PATTERNS:
        hits = [p for p in sorted(raw_dir.glob(pattern)) if p.suffix != ".toml" or _is_calibration_toml(p)]
        if hits:
            return hits[0]
    raise NtopError(f"no calibration file (looked for {', '.join(CALIBRATION_PATTERNS)})", raw_dir)


def _is_calibration_toml(path: Path) -> bool:
    """A TOML with camera tables (Pose2Sim keeps its settings in a ``Config.toml`` beside the calibration)."""
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return True  # let the reader say what is wrong with it
    return any(isinstance(d, dict) and "matrix" in d for d in doc.values())


def read_calibration(path: Path) -> list[CameraEntry]:
    """The cameras of any supported calibration file, chosen by its name."""
    name = path.name.lower()
    if name.endswith(".qca.txt"):
        return read_qualisys(path)
    if name.endswith(".toml"):
        return read_calib_toml(path)
    if name.endswith(".json"):
        return _read_json(path)
    if name == "intri.yml":
        return _read_easymocap(path, path.with_name("extri.yml"))
    raise NtopError("unknown calibration format (cameras.json, intri.yml, *.toml, *.qca.txt)", path)


def _numbers(value: Any, shape: tuple[int, ...], path: Path, key: str) -> np.ndarray:
    """``value`` as finite float64 of ``shape`` (-1: any length), or one error naming the file and key."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NtopError("not a list of numbers", path, key) from None
    expected = arr.size if -1 in shape else int(np.prod(shape))
    if arr.size != expected:
        raise NtopError(f"has {arr.size} values, expected {expected}", path, key)
    if not np.all(np.isfinite(arr)):
        raise NtopError("not finite", path, key)
    return arr.reshape(shape)


def read_calib_toml(path: Path) -> list[CameraEntry]:
    """Pose2Sim's, anipose's, FreeMoCap's and Caliscope's ``Calib.toml``."""
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise NtopError(f"not valid TOML ({e})", path) from None
    cams = []
    for table, d in doc.items():
        if table == "metadata" or not isinstance(d, dict):
            continue
        for key in ("matrix", "rotation", "translation"):
            if key not in d:
                raise NtopError("missing", path, f"{table}.{key}")
        size = _numbers(d["size"], (2,), path, f"{table}.size") if "size" in d else None
        fisheye = bool(d.get("fisheye", False))
        dist = _numbers(d.get("distortions", [0.0] * 4), (-1,), path, f"{table}.distortions")
        cams.append(
            CameraEntry(
                name=str(d.get("name", table)),
                K=_numbers(d["matrix"], (3, 3), path, f"{table}.matrix"),
                dist=dist,
                R=cv2.Rodrigues(_numbers(d["rotation"], (3, 1), path, f"{table}.rotation"))[0],
                T=_numbers(d["translation"], (3,), path, f"{table}.translation"),
                size=None if size is None else (int(round(size[0])), int(round(size[1]))),
                fisheye=fisheye,
            )
        )
    if not cams:
        raise NtopError("no camera tables", path)
    return cams


def _attr(node: ET.Element, key: str, path: Path, where: str) -> float:
    value = node.get(key)
    try:
        if value is None:
            raise ValueError
        number = float(value)
    except ValueError:
        raise NtopError("missing" if value is None else f"not a number ({value!r})", path, f"{where}.{key}") from None
    if not np.isfinite(number):
        raise NtopError("not finite", path, f"{where}.{key}")
    return number


def _child(node: ET.Element, tag: str, path: Path, where: str) -> ET.Element:
    child = node.find(tag)
    if child is None:
        raise NtopError("missing", path, f"{where}/{tag}")
    return child


def read_qualisys(path: Path) -> list[CameraEntry]:
    """Qualisys Track Manager's calibration export (``.qca.txt``, XML), video cameras only.

    Conventions, settled by the reprojection of triangulated detections on Pose2Sim's demo trial
    (``benchmarks/real_capture.py``): focal lengths and principal points are in 1/64 sensor pixels, the
    principal point relative to the ``fov_video`` window; distortion coefficients are plain OpenCV ones
    (not divided by 64); ``transform`` holds the camera's centre in the world (``x, y, z``, millimetres)
    and, row by row, its world-to-camera rotation in Qualisys' camera axes (-z forward, y up). Read the
    other way (the rotation transposed, as its camera-to-world reading suggests), the median
    reprojection error is 290 px instead of 17.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise NtopError(f"not a Qualisys XML calibration ({e})", path) from None
    nodes = root.findall("cameras/camera")
    if not nodes:
        raise NtopError("missing", path, "cameras/camera")
    cams = []
    for i, node in enumerate(nodes):
        name = node.get("serial") or f"camera{i}"
        where = f"camera {name}"
        if node.get("active", "1") == "0" or node.find("fov_video") is None:
            continue  # a marker-only camera: no video to read
        fov = _child(node, "fov_video", path, where)
        left, top = _attr(fov, "left", path, f"{where}/fov_video"), _attr(fov, "top", path, f"{where}/fov_video")
        width = _attr(fov, "right", path, f"{where}/fov_video") - left + 1
        height = _attr(fov, "bottom", path, f"{where}/fov_video") - top + 1
        intr = _child(node, "intrinsic", path, where)
        at = lambda key: _attr(intr, key, path, f"{where}/intrinsic")  # noqa: E731
        fx, fy = at("focalLengthU") / QUALISYS_SUBPIXELS, at("focalLengthV") / QUALISYS_SUBPIXELS
        cx, cy = at("centerPointU") / QUALISYS_SUBPIXELS - left, at("centerPointV") / QUALISYS_SUBPIXELS - top
        dist = np.array(
            [
                at("radialDistortion1"),
                at("radialDistortion2"),
                at("tangentalDistortion1"),
                at("tangentalDistortion2"),
                at("radialDistortion3"),
            ]
        )
        tr = _child(node, "transform", path, where)
        rot = np.array([[_attr(tr, f"r{r}{c}", path, f"{where}/transform") for c in (1, 2, 3)] for r in (1, 2, 3)])
        if abs(np.linalg.det(rot) - 1) > 1e-3 or np.abs(rot @ rot.T - np.eye(3)).max() > 1e-3:
            raise NtopError("r11..r33 are not a rotation", path, f"{where}/transform")
        centre = np.array([_attr(tr, k, path, f"{where}/transform") for k in "xyz"]) / 1000.0
        R = _QUALISYS_TO_OPENCV @ rot
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
        notes = {"view_rotation_deg": float(node.get("viewrotation", "0") or 0)}
        cams.append(CameraEntry(name=name, K=K, dist=dist, R=R, T=-R @ centre, size=(int(width), int(height)), notes=notes))
    if not cams:
        raise NtopError("no active video camera", path, "cameras/camera")
    return cams


def _matrix(fs: cv2.FileStorage, key: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    node = fs.getNode(key)
    m = None if node.empty() else node.mat()
    if m is None:
        raise NtopError("missing", path, key)
    return _numbers(m, shape, path, key)


def _read_easymocap(intri: Path, extri: Path) -> list[CameraEntry]:
    for p in (intri, extri):
        if not p.is_file():
            raise NtopError("missing", p)
    fi, fe = cv2.FileStorage(str(intri), cv2.FILE_STORAGE_READ), cv2.FileStorage(str(extri), cv2.FILE_STORAGE_READ)
    try:
        node = fi.getNode("names")
        if node.empty():
            raise NtopError("missing", intri, "names")
        cams = []
        for n in (node.at(i).string() for i in range(node.size())):
            dist = _matrix(fi, f"dist_{n}", intri, (-1,)) if not fi.getNode(f"dist_{n}").empty() else np.zeros(5)
            if not fe.getNode(f"Rot_{n}").empty():
                R = _matrix(fe, f"Rot_{n}", extri, (3, 3))
            else:
                R = cv2.Rodrigues(_matrix(fe, f"R_{n}", extri, (3, 1)))[0]
            cams.append(
                CameraEntry(name=n, K=_matrix(fi, f"K_{n}", intri, (3, 3)), dist=dist, R=R, T=_matrix(fe, f"T_{n}", extri, (3,)))
            )
        return cams
    finally:
        fi.release()
        fe.release()


def _read_json(path: Path) -> list[CameraEntry]:
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
        number = lambda key, shape, default=None: _numbers(d.get(key, default), shape, path, f"[{i}].{key}")  # noqa: E731
        cams.append(
            CameraEntry(
                str(d["name"]), number("K", (3, 3)), number("dist", (-1,), [0] * 5), number("R", (3, 3)), number("T", (3,))
            )
        )
    return cams
