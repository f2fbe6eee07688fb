"""Masks against each other: the check a real multi-view capture allows, with no true masks to compare.

A pixel of one camera's mask is *supported* when its ray, somewhere inside the body's box, passes
through every other camera's mask: the body there could be where that camera saw it. Masks of one
body through a right calibration support each other entirely (the projected SMPL bodies score 1.0);
a part one camera left out (an arm against a bright wall) leaves the other cameras' pixels of it
unsupported, and so does background one camera took for person where another looked past the body.
The check cannot see what the other views' cones also cover (background between arm and torso seen
by every camera from the side), so a high figure bounds the masks' errors from one side only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.io import open_stage, read_cameras, require

__all__ = ["SUPPORT_WARN", "body_box", "carved", "unsupported_pixels", "check_support"]

SUPPORT_WARN = 0.97  # below it, the masks or the calibration disagree on more than 3 % of the mask pixels
BOX_MARGIN_M = 0.35  # joints to the body's outline: head top, hands and feet lie within this of a COCO joint
TOLERANCE_PX = 2  # another view's mask is grown by this much: calibration and the masks' own edges
SAMPLES = 64  # points per ray across the body's box (under 3 cm apart for a 1.8 m box)
FRAME_STRIDE = 5  # every 5th frame: neighbouring frames hold nearly the same silhouettes


def body_box(joints: np.ndarray, margin: float = BOX_MARGIN_M) -> tuple[np.ndarray, np.ndarray] | None:
    """The world box around a frame's triangulated joints ``(J, 3)`` grown by ``margin``; None with
    fewer than three joints."""
    ok = np.isfinite(joints).all(-1)
    if ok.sum() < 3:
        return None
    return joints[ok].min(0) - margin, joints[ok].max(0) + margin


def _ray_span(origins: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit distances of rays through the box (exit <= entry where they miss it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (lo - origins) / dirs, (hi - origins) / dirs
    near = np.nanmax(np.minimum(t0, t1), -1).clip(min=0)
    far = np.nanmin(np.maximum(t0, t1), -1)
    return near, far


def _inside(cam: Camera, grown: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether points project into ``cam``'s grown mask; points it cannot see do not count against them."""
    uv, seen = cam.project(points)
    uv, seen = np.asarray(uv), np.asarray(seen)
    uv = np.rint(np.clip(np.nan_to_num(uv), 0, [cam.width - 1, cam.height - 1])).astype(np.int64)  # unseen: any pixel
    u, v = uv[:, 0], uv[:, 1]
    return ~seen | grown[v, u]


def carved(
    cam: Camera, pixels: np.ndarray, others: list[tuple[Camera, np.ndarray]], lo: np.ndarray, hi: np.ndarray, samples: int = SAMPLES
) -> np.ndarray:
    """Whether each of ``cam``'s ``(N, 2)`` pixels (u, v) has a ray that, at one of ``samples`` points
    across the box ``lo..hi``, lies inside every other camera's mask (``others``: camera, mask)."""
    origins, dirs, valid = (np.asarray(x) for x in cam.world_rays(pixels.astype(np.float64)))
    near, far = _ray_span(origins, dirs, lo, hi)
    t = near[:, None] + (far - near)[:, None] * ((np.arange(samples) + 0.5) / samples)
    points = (origins[:, None] + dirs[:, None] * t[..., None]).reshape(-1, 3)
    alive = np.arange(len(points))  # points inside every mask asked so far: the next camera sees only those
    for other, mask in others:
        alive = alive[_inside(other, mask, points[alive])]
    inside = np.zeros(len(points), bool)
    inside[alive] = True
    return valid & (far > near) & inside.reshape(t.shape).any(1)


def unsupported_pixels(
    masks: list[np.ndarray], cams: list[Camera], lo: np.ndarray, hi: np.ndarray, stride: int = 1
) -> list[tuple[np.ndarray, int]]:
    """Per camera, the ``(N, 2)`` pixels (u, v) of its mask that the other cameras' masks do not support,
    and the number of mask pixels tested (every ``stride``-th row and column)."""
    grown = [cv2.dilate(m.astype(np.uint8), np.ones((2 * TOLERANCE_PX + 1,) * 2, np.uint8)) > 0 for m in masks]
    out = []
    for c, cam in enumerate(cams):
        v, u = np.nonzero(masks[c][::stride, ::stride])
        pixels = np.stack([u, v], -1) * stride
        supported = carved(cam, pixels, [(other, grown[k]) for k, other in enumerate(cams) if k != c], lo, hi)
        out.append((pixels[~supported], len(pixels)))
    return out


def _frames_of(keypoints3d: str | Path, frame_index: np.ndarray) -> np.ndarray:
    with open_stage(keypoints3d, "keypoints3d") as f:
        if not np.array_equal(require(f, "frame_index")[()], frame_index):
            raise NtopError("the triangulated joints' frames are not the masks'", keypoints3d, "frame_index")
        return require(f, "joints")[()]


def check_support(masks_path: str | Path, keypoints3d: str | Path, stride: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """The share of each camera's mask pixels the other views support, every ``FRAME_STRIDE``-th frame;
    and, for the picture, the worst frame's masks and unsupported pixels."""
    with open_stage(masks_path, "masks") as f:
        cams = read_cameras(require(f, "cameras"))
        frame_index = require(f, "frame_index")[()]
        names = [c.name for c in cams]
        if len(cams) < 2:
            raise NtopError("masks of one camera cannot be checked against each other", masks_path, "cameras")
        joints = _frames_of(keypoints3d, frame_index)
        tested, missed, checked, worst = np.zeros(len(cams)), np.zeros(len(cams)), 0, None
        for t in range(0, len(frame_index), FRAME_STRIDE):
            box = body_box(joints[t])
            if box is None:
                continue
            masks = [require(f, f"masks/{n}")[t] > 0 for n in names]
            result = unsupported_pixels(masks, cams, *box, stride)
            counts = np.array([[len(bad), n] for bad, n in result], float)
            missed += counts[:, 0]
            tested += counts[:, 1]
            share = 1 - counts[:, 0].sum() / max(counts[:, 1].sum(), 1)
            checked += 1
            if worst is None or share < worst["supported"]:
                worst = {"frame": int(frame_index[t]), "supported": float(share), "masks": masks}
                worst["unsupported"] = [bad for bad, _ in result]
    if worst is None:
        raise NtopError("no frame has three triangulated joints to place the body's box", keypoints3d, "joints")
    supported = 1 - missed.sum() / max(tested.sum(), 1)
    report = {
        "supported": float(supported),
        "worst_frame": {"frame": worst["frame"], "supported": worst["supported"]},
        "per_camera": {n: float(1 - m / max(k, 1)) for n, m, k in zip(names, missed, tested)},
        "frames": checked,
        "passed": bool(supported >= SUPPORT_WARN),
    }
    return report, {"cameras": names, "stride": stride, **worst}
