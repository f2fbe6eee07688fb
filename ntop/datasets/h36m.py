"""Human3.6M as its release unpacks, one subject folder (``raw:`` points at ``.../S1``)::

    Videos/<Action>.<camera id>.mp4                  e.g. ``Directions 1.54138969.mp4`` (50 fps)
    MyPoseFeatures/D3_Positions/<Action>.cdf         optional: ``Pose (1, N, 96)``, 32 joints, world mm
    cameras.h5 (setting ``cameras``, default ``../cameras.h5``)
        subject<n>/camera<k>/{R, T, f, c, k, p, Name}: the dataset's convention, as 3d-pose-baseline
        distributes it: x_cam = R^T-as-stored (X - T), T the camera centre in mm, f and c in pixels,
        radial k1 k2 k3 and tangential p1 p2 in H3.6M's own distortion formula.

The ``action`` wildcard is the file's action with spaces as underscores (``Directions_1``). H3.6M's
tangential terms are not OpenCV's, so the adapter fits OpenCV's five coefficients to the dataset's
formula over the whole image and reports the largest disagreement (``distortion_fit_px``).
Masks come from background subtraction (``masks: method: [bgsub, smpl_refine]``) and SMPL from the
fit stage (``smpl: fit``), as NToP advises; the 3D poses are kept as ``poses3d/h36m32`` (metres).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ntop.cameras import Camera
from ntop.datasets.canonical import AdapterContext, RawCapture, pinhole_camera
from ntop.errors import NtopError
from ntop.io import count_frames, read_frames

__all__ = ["open_h36m", "h36m_distort", "opencv_distortion"]


def h36m_distort(xy: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """H3.6M's distortion of normalised points ``(N, 2)``: radial k1..k3, then its tangential terms."""
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    scale = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3 + p[0] * y + p[1] * x
    return np.stack([x * scale + p[1] * r2, y * scale + p[0] * r2], 1)


def opencv_distortion(
    f: np.ndarray, c: np.ndarray, k: np.ndarray, p: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, float]:
    """OpenCV ``k1 k2 p1 p2 k3`` closest to H3.6M's formula over the image (linear least squares: the
    distortion is linear in its coefficients), and the largest disagreement in pixels."""
    w, h = size
    u, v = np.meshgrid(np.linspace(0, w, 41), np.linspace(0, h, 41))
    xy = np.stack([(u.ravel() - c[0]) / f[0], (v.ravel() - c[1]) / f[1]], 1)
    target = h36m_distort(xy, k, p) - xy
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    # columns: k1 k2 p1 p2 k3; rows: the x equations then the y equations
    A = np.concatenate(
        [
            np.stack([x * r2, x * r2**2, 2 * x * y, r2 + 2 * x * x, x * r2**3], 1),
            np.stack([y * r2, y * r2**2, r2 + 2 * y * y, 2 * x * y, y * r2**3], 1),
        ]
    )
    coef = np.linalg.lstsq(A, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)[0]
    resid = (A @ coef - np.concatenate([target[:, 0], target[:, 1]])).reshape(2, -1) * np.asarray(f, float).reshape(2, 1)
    return coef, float(np.linalg.norm(resid, axis=0).max())


def _subject_number(subject: str, settings: dict[str, Any]) -> int:
    if "subject_id" in settings:
        return int(settings["subject_id"])
    m = re.search(r"(\d+)$", subject)
    if not m:
        raise NtopError(f"cannot tell the H3.6M subject number from {subject!r}; set it", field="adapter.subject_id")
    return int(m.group(1))


def _read_cameras(path: Path, number: int) -> list[dict[str, Any]]:
    if not path.is_file():
        raise NtopError("missing (set the subject's adapter: cameras:)", path)
    out = []
    with h5py.File(path, "r") as f:
        group = f"subject{number}"
        if group not in f:
            raise NtopError("missing", path, group)
        for cam in sorted(f[group], key=lambda s: int(re.sub(r"\D", "", s) or 0)):
            g = f[group][cam]
            entry: dict[str, Any] = {}
            for key, size in (("R", 9), ("T", 3), ("f", 2), ("c", 2), ("k", 3), ("p", 2)):
                if key not in g or g[key].size != size:
                    raise NtopError(f"missing or not {size} values", path, f"{group}/{cam}/{key}")
                entry[key] = np.asarray(g[key][()], dtype=np.float64).reshape(-1)
            if "Name" not in g:
                raise NtopError("missing", path, f"{group}/{cam}/Name")
            name = g["Name"][()]
            entry["name"] = name.decode() if isinstance(name, bytes) else "".join(chr(int(v)) for v in np.ravel(name))
            out.append(entry)
    return out


def _stems(action: str) -> list[str]:
    """File names an ``action`` wildcard may stand for: itself, and with its underscores as spaces."""
    return list(dict.fromkeys((action, action.replace("_", " "))))


def _video(raw_dir: Path, action: str, camera: str) -> Path:
    for stem in _stems(action):
        p = raw_dir / "Videos" / f"{stem}.{camera}.mp4"
        if p.is_file():
            return p
    raise NtopError(
        f"no video of action {action!r} for camera {camera}", raw_dir / "Videos", f"{action.replace('_', ' ')}.{camera}.mp4"
    )


def _poses(raw_dir: Path, action: str) -> np.ndarray | None:
    for stem in _stems(action):
        p = raw_dir / "MyPoseFeatures" / "D3_Positions" / f"{stem}.cdf"
        if p.is_file():
            import cdflib

            try:
                pose = np.asarray(cdflib.CDF(str(p)).varget("Pose"), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - cdflib raises several types for one bad file
                raise NtopError(f"cannot read ({e})", p, "Pose") from None
            if pose.size % 96:
                raise NtopError("is not N x 96 values (32 joints x 3)", p, "Pose")
            return pose.reshape(-1, 32, 3) / 1000.0
    return None


def open_h36m(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    raw_dir = Path(raw_dir)
    settings = (context or AdapterContext()).settings
    cam_file = Path(settings.get("cameras", raw_dir.parent / "cameras.h5"))
    entries = _read_cameras(cam_file, _subject_number(subject, settings))
    paths = [_video(raw_dir, action, e["name"]) for e in entries]
    counts = [count_frames(p) for p in paths]
    poses = _poses(raw_dir, action)
    n = min(counts + ([len(poses)] if poses is not None else []))
    cams: list[Camera] = []
    fit_px = 0.0
    for e, p in zip(entries, paths):
        _, first = next(iter(read_frames(p, [0])))
        h, w = first.shape[:2]
        dist, err = opencv_distortion(e["f"], e["c"], e["k"], e["p"], (w, h))
        fit_px = max(fit_px, err)
        R = e["R"].reshape(3, 3).T
        K = np.array([[e["f"][0], 0, e["c"][0]], [0, e["f"][1], e["c"][1]], [0, 0, 1]])
        cams.append(pinhole_camera(e["name"], K, dist, R, -R @ e["T"] / 1000.0, w, h, cam_file))

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_frames(paths[camera], indices)

    annotations = {"poses3d/h36m32": poses[:n]} if poses is not None else {}
    return RawCapture(
        subject=subject,
        action=action,
        source="h36m",
        fps=float(settings.get("fps", 50.0)),
        num_frames=n,
        cameras=cams,
        read=read,
        inputs=[str(raw_dir), str(cam_file)],
        annotations=annotations,
        notes={"distortion_fit_px": fit_px},
    )
