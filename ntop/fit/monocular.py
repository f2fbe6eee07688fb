"""Monocular SMPL fitting: 2D keypoints of one camera, intrinsics known (or assumed from a field of view).

Depth comes from body size: the torso's 3D shoulder-to-hip length against its length in pixels puts
each frame at a distance along the ray through the torso's centre. The facing direction is what a
single view cannot tell from the torso alone, so eight upright orientations (45 degrees apart about
the up direction) are each fitted briefly and the best per frame starts the full fit. A strong shape
prior guards against trading body size for depth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.body import JOINT_SETS, BodyModel
from ntop.errors import NtopError
from ntop.fit.core import FitConfig, View2D, fit_bodies
from ntop.tracks import fill_gaps

__all__ = ["monocular_init", "monocular_config", "fit_monocular"]

YAWS = np.radians(np.arange(0, 360, 45))
# one view leaves each limb's depth to the priors: they weigh 100x (pose, shape) and 50x (smoothness) more
MONOCULAR_FLOORS = {"weight_pose": 1e-3, "weight_shape": 1e-3, "weight_smooth_pose": 1e-2}
RIGID = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_hip",
    "right_hip",
    "pelvis",
    "spine1",
    "spine2",
    "spine3",
    "neck",
    "head",
    "thorax",
    "spine",
    "neck_nose",
)


def _upright(up: np.ndarray, yaw: float) -> Rotation:
    base, _ = Rotation.align_vectors([up], [[0.0, 1.0, 0.0]])  # SMPL's y onto the world's up
    return Rotation.from_rotvec(up / np.linalg.norm(up) * yaw) * base


def monocular_init(body: BodyModel, view: View2D, joint_set: str, up: np.ndarray, yaw: float) -> dict[str, np.ndarray]:
    """Upright bodies turned by ``yaw``, placed along each frame's torso ray at the distance its size implies."""
    names = JOINT_SETS[joint_set].names
    sh = [names.index("left_shoulder"), names.index("right_shoulder")]
    hp = [names.index("left_hip"), names.index("right_hip")]
    with torch.no_grad():
        rest = body.joints_only(torch.zeros(1, 3), torch.zeros(1, 23, 3), None, None, joint_set)[0].double().numpy()
        pelvis = body.shaped(None)[1][0, 0].double().numpy()
    length3d = np.linalg.norm(rest[sh] - rest[hp], axis=-1).mean()
    uv, conf = view.uv, view.conf
    ok = (conf[:, sh] > 0).all(1) & (conf[:, hp] > 0).all(1)
    if not ok.any():
        raise NtopError("no frame shows both shoulders and hips", field="keypoints")
    cam = view.camera
    centre = (uv[:, sh].mean(1) + uv[:, hp].mean(1)) / 2
    length2d = np.linalg.norm(uv[:, sh] - uv[:, hp], axis=-1).mean(1)
    focal = float(np.mean(cam.K[:2]))
    depth = fill_gaps(np.where(ok, focal * length3d / np.maximum(length2d, 1e-6), np.nan))
    centre = fill_gaps(np.where(ok[:, None], centre, np.nan))
    rays = cam.unproject(centre)[0]
    torso_cam = rays / rays[:, 2:3] * depth[:, None]
    torso_world = cam.camera_to_world(torso_cam)
    R = _upright(up, yaw)
    torso_rest = (rest[sh].mean(0) + rest[hp].mean(0)) / 2
    transl = torso_world - R.apply(torso_rest - pelvis) - pelvis
    return {"global_orient": np.repeat(R.as_rotvec()[None], len(uv), 0), "transl": transl}


def monocular_config(cfg: FitConfig) -> FitConfig:
    """The objective for one view: 2D keypoints only, priors no weaker than ``MONOCULAR_FLOORS``. A GMM
    pose prior, when given, stands in for the Gaussian around standing (which folds a raised arm or a
    deep squat in depth), so the pose floor is not applied then."""
    return replace(
        cfg,
        weight_3d=0.0,
        weight_2d=max(cfg.weight_2d, 1.0),
        weight_pose=cfg.weight_pose if cfg.gmm_prior else max(cfg.weight_pose, MONOCULAR_FLOORS["weight_pose"]),
        weight_shape=max(cfg.weight_shape, MONOCULAR_FLOORS["weight_shape"]),
        weight_smooth_pose=max(cfg.weight_smooth_pose, MONOCULAR_FLOORS["weight_smooth_pose"]),
    )


def fit_monocular(
    body: BodyModel,
    view: View2D,
    joint_set: str,
    cfg: FitConfig,
    up: np.ndarray | None = None,
    segments: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit every frame of one camera. ``up``: the world's up direction (default: the camera's -y, for a
    camera that is roughly level)."""
    if up is None:
        up = view.camera.R.T @ np.array([0.0, -1.0, 0.0])
    up = np.asarray(up, dtype=np.float64)
    mono = monocular_config(cfg)
    trial = replace(mono, iterations=0, iterations_global=max(10, cfg.iterations_global // 2))
    names = JOINT_SETS[joint_set].names
    rigid = [i for i, n in enumerate(names) if n in RIGID]  # limbs start in the T-pose: judge by the torso and head
    torso_view = View2D(view.camera, view.uv, np.where(np.isin(np.arange(len(names)), rigid)[None], view.conf, 0.0))
    best_err, best = None, None
    for yaw in YAWS:
        init = monocular_init(body, view, joint_set, up, yaw)
        res = fit_bodies(body, joint_set, trial, views=[torso_view], segments=segments, init=init)
        err = np.nan_to_num(res["error_2d_px"], nan=np.inf)
        if best is None:
            best_err, best = err, {k: res[k].copy() for k in ("global_orient", "transl")}
            continue
        better = err < best_err
        best_err = np.where(better, err, best_err)
        for k in best:
            best[k][better] = res[k][better]
    return fit_bodies(body, joint_set, mono, views=[view], segments=segments, init=best)
