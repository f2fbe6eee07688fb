"""Procedural motions for the synthetic subject: smooth, periodic, inside joint limits.

Each motion maps time (seconds) to SMPL parameters in SMPL's own frame (y up, facing +z): a body
pose ``(T, 23, 3)``, a yaw about the vertical axis ``(T,)`` (0 faces the world's -y) and a path on
the floor ``(T, 2)`` in world metres. The capture places the body in the world (z up, feet on the
floor) afterwards. ``walk`` really walks, along an arc around the middle of the room: a person who
moves through the volume is what calibration from keypoints needs (in place, pan and sideways
translation of a camera are almost indistinguishable). Angles are in radians; rotations are composed with
scipy so that a joint can bend about two axes at once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["MOTIONS", "motion"]

_J = {
    "l_hip": 1,
    "r_hip": 2,
    "spine1": 3,
    "l_knee": 4,
    "r_knee": 5,
    "spine2": 6,
    "l_ankle": 7,
    "r_ankle": 8,
    "spine3": 9,
    "neck": 12,
    "l_collar": 13,
    "r_collar": 14,
    "head": 15,
    "l_shoulder": 16,
    "r_shoulder": 17,
    "l_elbow": 18,
    "r_elbow": 19,
    "l_wrist": 20,
    "r_wrist": 21,
}
_ARMS_DOWN = np.radians(68.0)  # lowering from the T-pose


def _rot(axis: str, angle: np.ndarray) -> Rotation:
    vec = np.zeros((len(angle), 3))
    vec[:, "xyz".index(axis)] = angle
    return Rotation.from_rotvec(vec)


class _Pose:
    """Accumulates per-joint rotations for T frames; ``then`` applies a rotation after the current one."""

    def __init__(self, T: int):
        self.T = T
        self.rot = [Rotation.identity(T) for _ in range(24)]

    def then(self, joint: str, axis: str, angle: np.ndarray | float) -> "_Pose":
        angle = np.broadcast_to(np.asarray(angle, dtype=np.float64), (self.T,))
        j = _J[joint]
        self.rot[j] = _rot(axis, angle) * self.rot[j]
        return self

    def body_pose(self) -> np.ndarray:
        return np.stack([self.rot[j].as_rotvec() for j in range(1, 24)], 1)


def _arms_down(p: _Pose, extra: np.ndarray | float = 0.0) -> _Pose:
    return p.then("l_shoulder", "z", -(_ARMS_DOWN + extra)).then("r_shoulder", "z", _ARMS_DOWN + extra)


_Motion = tuple[np.ndarray, np.ndarray, np.ndarray]
WALK_RADIUS = 0.6  # metres, the arc the walk follows
WALK_SPEED = 0.7  # metres per second


def _in_place(t: np.ndarray) -> np.ndarray:
    return np.zeros((len(t), 2))


def _walk(t: np.ndarray) -> _Motion:
    ph = 2 * np.pi * t / 1.1
    p = _arms_down(_Pose(len(t)))
    swing = np.radians(25) * np.sin(ph)
    p.then("l_hip", "x", -swing).then("r_hip", "x", swing)
    p.then("l_knee", "x", np.radians(45) * np.clip(np.sin(ph - 0.6), 0, None) + np.radians(5))
    p.then("r_knee", "x", np.radians(45) * np.clip(-np.sin(ph - 0.6), 0, None) + np.radians(5))
    p.then("l_ankle", "x", np.radians(8) * np.sin(ph - 1.0)).then("r_ankle", "x", -np.radians(8) * np.sin(ph - 1.0))
    p.then("l_shoulder", "x", np.radians(20) * np.sin(ph)).then("r_shoulder", "x", -np.radians(20) * np.sin(ph))
    p.then("l_elbow", "y", -np.radians(20) - np.radians(10) * np.sin(ph)).then(
        "r_elbow", "y", np.radians(20) - np.radians(10) * np.sin(ph)
    )
    p.then("spine2", "y", np.radians(5) * np.sin(ph))
    theta = -np.pi / 2 + WALK_SPEED * t / WALK_RADIUS  # counter-clockwise along the arc
    path = WALK_RADIUS * np.stack([np.cos(theta), np.sin(theta)], 1)
    return p.body_pose(), theta + np.pi + np.radians(5) * np.sin(ph), path  # facing the tangent, swaying


def _wave(t: np.ndarray) -> _Motion:
    ph = 2 * np.pi * t / 0.9
    p = _Pose(len(t)).then("l_shoulder", "z", -_ARMS_DOWN)
    raise_arm = np.radians(35) * (1 - np.cos(np.minimum(t / 0.8, 1.0) * np.pi)) / 2  # raise over 0.8 s
    p.then("r_shoulder", "z", -raise_arm).then("r_shoulder", "y", np.radians(15))
    p.then(
        "r_elbow", "z", -np.radians(100) * raise_arm / np.radians(35) + np.radians(25) * np.sin(ph) * raise_arm / np.radians(35)
    )
    p.then("r_wrist", "z", np.radians(15) * np.sin(ph + 0.5))
    p.then("l_elbow", "y", -np.radians(15)).then("head", "z", np.radians(8) * np.sin(ph / 2))
    p.then("spine2", "z", np.radians(4) * np.sin(ph / 2))
    return p.body_pose(), np.radians(20) * np.sin(2 * np.pi * t / 4.0), _in_place(t)


def _squat(t: np.ndarray) -> _Motion:
    depth = (1 - np.cos(2 * np.pi * t / 2.4)) / 2  # 0..1
    p = _Pose(len(t))
    hip, knee = np.radians(85) * depth, np.radians(110) * depth
    p.then("l_hip", "x", -hip).then("r_hip", "x", -hip).then("l_knee", "x", knee).then("r_knee", "x", knee)
    p.then("l_ankle", "x", -np.radians(25) * depth).then("r_ankle", "x", -np.radians(25) * depth)
    p.then("spine1", "x", np.radians(20) * depth)
    _arms_down(p, -np.radians(40) * depth)
    p.then("l_shoulder", "y", -np.radians(60) * depth).then("r_shoulder", "y", np.radians(60) * depth)
    return p.body_pose(), np.zeros_like(t), _in_place(t)


def _turn(t: np.ndarray) -> _Motion:
    ph = 2 * np.pi * t / 0.8
    p = _arms_down(_Pose(len(t)), -np.radians(10) * np.sin(ph / 2))
    step = np.radians(12) * np.clip(np.sin(ph), 0, None)
    p.then("l_hip", "x", -step).then("l_knee", "x", 2 * step)
    step_r = np.radians(12) * np.clip(-np.sin(ph), 0, None)
    p.then("r_hip", "x", -step_r).then("r_knee", "x", 2 * step_r)
    p.then("l_elbow", "y", -np.radians(30)).then("r_elbow", "y", np.radians(30))
    return p.body_pose(), 2 * np.pi * t / 4.0, _in_place(t)  # a full turn every 4 s


MOTIONS: dict[str, Callable[[np.ndarray], _Motion]] = {
    "walk": _walk,
    "wave": _wave,
    "squat": _squat,
    "turn": _turn,
}


def motion(name: str, num_frames: int, fps: float) -> _Motion:
    """``body_pose (T, 23, 3)`` axis-angle, ``yaw (T,)`` and floor ``path (T, 2)`` for the named motion."""
    if name not in MOTIONS:
        raise KeyError(name)
    return MOTIONS[name](np.arange(num_frames) / fps)
