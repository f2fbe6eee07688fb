"""One monocular video (a phone clip, a webcam recording): ``raw:`` points at the video file or at a
folder of frames.

There is one camera, ``cam00``. Settings (``adapter:``):

* ``intrinsics: [fx, fy, cx, cy]`` in pixels, or ``hfov_deg`` (default 60) for a centred pinhole;
  ``distortion`` (OpenCV k1 k2 p1 p2 k3, default none);
* ``camera_height_m`` (default 1.5) and ``pitch_deg`` (downward tilt, default 0): the world is then
  z up with the camera looking along +y, which is what the monocular fit and the top-view rig need;
* ``keypoints``: optional folder of OpenPose JSON files (``*_keypoints.json``, one per frame, BODY_25
  or COCO-18 ``pose_keypoints_2d``) from a detector you ran yourself; the ``dataset`` keypoints
  backend then uses them instead of running one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ntop.datasets.canonical import AdapterContext, RawCapture, pinhole_camera
from ntop.errors import NtopError
from ntop.io import count_frames, read_frames, video_fps

__all__ = ["open_video", "read_openpose", "level_camera_pose"]

# COCO-17 joints in OpenPose's BODY_25 and COCO-18 orders
OPENPOSE_TO_COCO17 = {
    25: [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11],
    18: [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10],
}


def level_camera_pose(height_m: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera ``R, t`` of a camera ``height_m`` above the origin looking along +y, tilted down by
    ``pitch_deg``, in a z-up world."""
    level = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # camera x = world x, camera y = -z (down), camera z = +y
    R = Rotation.from_euler("x", pitch_deg, degrees=True).as_matrix() @ level
    return R, -R @ np.array([0.0, 0.0, height_m])


def read_openpose(folder: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 ``uv (T, 17, 2)`` and ``confidence (T, 17)`` from one OpenPose JSON per frame (the most
    confident person of each)."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if len(files) != count:
        raise NtopError(f"has {len(files)} JSON files, the video has {count} frames", folder, "adapter.keypoints")
    uv, conf = np.zeros((count, 17, 2)), np.zeros((count, 17))
    for t, path in enumerate(files):
        try:
            people = json.loads(path.read_text())["people"]
            poses = [np.asarray(p["pose_keypoints_2d"], dtype=np.float64).reshape(-1, 3) for p in people]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise NtopError(f"not OpenPose JSON ({e})", path, "people/pose_keypoints_2d") from None
        if not poses:
            continue
        best = max(poses, key=lambda p: p[:, 2].sum())
        if len(best) not in OPENPOSE_TO_COCO17:
            raise NtopError(f"has {len(best)} joints; BODY_25 or COCO-18 expected", path, "pose_keypoints_2d")
        pick = best[OPENPOSE_TO_COCO17[len(best)]]
        uv[t], conf[t] = pick[:, :2], pick[:, 2]
    return uv, conf


def open_video(raw_path: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    raw_path = Path(raw_path)
    settings = (context or AdapterContext()).settings
    if not raw_path.exists():
        raise NtopError("missing", raw_path)
    count = count_frames(raw_path)
    if count == 0:
        raise NtopError("has no frames", raw_path)
    _, first = next(iter(read_frames(raw_path, [0])))
    h, w = first.shape[:2]
    if "intrinsics" in settings:
        fx, fy, cx, cy = (float(v) for v in settings["intrinsics"])
    else:
        fx = fy = w / 2 / np.tan(np.radians(float(settings.get("hfov_deg", 60.0))) / 2)
        cx, cy = w / 2, h / 2
    R, t = level_camera_pose(float(settings.get("camera_height_m", 1.5)), float(settings.get("pitch_deg", 0.0)))
    cam = pinhole_camera(
        "cam00", np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]), settings.get("distortion", []), R, t, w, h, raw_path
    )
    annotations = {}
    if settings.get("keypoints"):
        uv, conf = read_openpose(Path(settings["keypoints"]), count)
        annotations = {
            "keypoints2d/coco17/joints": uv[:, None],
            "keypoints2d/coco17/confidence": conf[:, None],
        }  # (T, camera, ...)

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_frames(raw_path, indices)

    return RawCapture(
        subject=subject,
        action=action,
        source="video",
        fps=float(settings.get("fps", video_fps(raw_path))),
        num_frames=count,
        cameras=[cam],
        read=read,
        inputs=[str(raw_path)],
        annotations=annotations,
    )
