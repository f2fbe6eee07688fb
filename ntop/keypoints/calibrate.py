"""``calibrate``: camera extrinsics from 2D keypoints when a rig's intrinsics are known but not its poses.

The person is the calibration object. Every frame and joint seen by two cameras is a correspondence.
Steps: essential matrices for every camera pair (RANSAC in normalised coordinates, so any lens model
works); the pair with the most inliers starts the reconstruction; the other cameras are added by PnP
against the points triangulated so far, most-connected first; bundle adjustment (scipy
``least_squares``, robust loss, sparse Jacobian) refines all poses and points on pixel residuals.
Keypoints fix everything but scale, which comes from a prior: the body model's bone lengths (for the
given shape, or stretched to a given height). Finally the world is put where the rest of ntop expects
it: z up along the person's body axis, the floor (z = 0) under the ankles, origin under the hips.

With ``refine`` the rig's own calibration is the start instead: the same bundle adjustment moves
every camera, and the similarity that best maps the refined camera centres onto the given ones puts the
result back into the calibration's world (its floor, axes and scale). For a rig whose calibration no
longer matches its videos (on Pose2Sim's trial, the leave-one-camera-out error of held-out frames falls
from 28.5 to 21.4 px with BlazePose full, 26.4 to 17.7 px with heavy; ``benchmarks/real_capture.py``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix
from scipy.spatial.transform import Rotation

from ntop.align import procrustes
from ntop.body import JOINT_SETS, BodyModel
from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, read_cameras, require, write_cameras
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.keypoints.triangulate import TriangulateConfig, reprojection, triangulate_points
from ntop.settings import settings_from_dict

__all__ = ["CALIBRATION_SCHEMA", "CalibrateConfig", "calibrate_cameras", "refine_cameras", "calibrate", "camera_errors"]
__all__ += ["NEUTRAL_SCALE_PRIOR", "PROPORTION_SPREAD_WARN", "bone_lengths", "proportion_spread"]

CALIBRATION_SCHEMA = "calibration"
#: above this, the calibrated rig makes a skeleton no body has (right rigs: 0.015-0.046, a child's the
#: most; rigs 30-180 degrees off, from one motion in place at 192 px: 0.086-0.193; benchmarks/RESULTS.md)
PROPORTION_SPREAD_WARN = 0.08
NEUTRAL_SCALE_PRIOR = "the neutral body's bone lengths"  # what sizes a rig when neither height nor shape is given
BONES = (
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
)


@dataclass
class CalibrateConfig:
    min_confidence: float = 0.5  # correspondences below this confidence are not used
    threshold_px: float = 6.0  # RANSAC and inlier threshold in pixels
    height_m: float | None = None  # the subject's standing height; None = the body model's at `betas`
    betas: list[float] = field(default_factory=list)  # the subject's shape, if known
    ankle_height_m: float = 0.08  # ankle joint above the floor when standing
    max_iterations: int = 200  # bundle adjustment function evaluations (x 100 internally by scipy)
    refine: bool = False  # start from the capture's cameras and keep their world (cameras: refine)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "calibration") -> "CalibrateConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.height_m is not None and not 0.5 < cfg.height_m < 2.5:
            raise NtopError(f"a standing height of {cfg.height_m} m is implausible", where, "height_m")
        return cfg


def bone_lengths(points: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Lengths of :data:`BONES` in ``points (..., J, 3)`` named by ``names``: ``(..., len(BONES))``."""
    missing = {n for bone in BONES for n in bone} - set(names)
    if missing:
        raise NtopError(f"the joint set lacks {sorted(missing)} needed for the scale prior", field="joint_set")
    a = points[..., [names.index(p) for p, _ in BONES], :]
    b = points[..., [names.index(c) for _, c in BONES], :]
    return np.linalg.norm(a - b, axis=-1)


def _prior_bones(body: BodyModel, joint_set: str, cfg: CalibrateConfig) -> np.ndarray:
    betas = torch.zeros(1, body.num_betas)
    if cfg.betas:
        betas[0, : len(cfg.betas)] = torch.as_tensor(cfg.betas[: body.num_betas])
    out = body.forward(torch.zeros(1, 3), torch.zeros(1, 23, 3), betas)
    joints = body.joint_set(out, joint_set)[0].double().numpy()
    lengths = bone_lengths(joints, JOINT_SETS[joint_set].names)
    if cfg.height_m is not None:
        v = out.vertices[0].double().numpy()
        lengths = lengths * cfg.height_m / float(v[:, 1].max() - v[:, 1].min())  # SMPL's rest pose stands along y
    return lengths


def _normalised(cam: Camera, uv: np.ndarray) -> np.ndarray:
    rays = cam.unproject(uv)[0]
    return rays[..., :2] / np.where(rays[..., 2:] > 1e-9, rays[..., 2:], np.nan)


def _posed(cams: list[Camera], poses: dict[int, tuple[np.ndarray, np.ndarray]], order: list[int]) -> list[Camera]:
    return [replace(cams[i], R=poses[i][0], t=poses[i][1]) for i in order]


def _bundle_adjust(
    cams: list[Camera], uv: np.ndarray, used: np.ndarray, X: np.ndarray, threshold_px: float, max_iterations: int
) -> tuple[list[Camera], np.ndarray, np.ndarray]:
    """Refine poses (camera 0 fixed) and points on pixel residuals; ``used (C, N)`` marks observations."""
    C, N = used.shape
    obs_c, obs_n = np.nonzero(used)
    params0 = np.concatenate([np.concatenate([Rotation.from_matrix(c.R).as_rotvec(), c.t]) for c in cams[1:]] + [X.ravel()])

    def residuals(p: np.ndarray) -> np.ndarray:
        pose = p[: 6 * (C - 1)].reshape(C - 1, 6)
        pts = p[6 * (C - 1) :].reshape(N, 3)
        out = np.empty((len(obs_c), 2))
        for c in range(C):
            sel = obs_c == c
            R, t = (cams[0].R, cams[0].t) if c == 0 else (Rotation.from_rotvec(pose[c - 1, :3]).as_matrix(), pose[c - 1, 3:])
            proj, _ = cams[c].project_camera(pts[obs_n[sel]] @ R.T + t)
            out[sel] = proj - uv[c, obs_n[sel]]
        return np.nan_to_num(out, nan=1e3).ravel()

    sparsity = lil_matrix((2 * len(obs_c), len(params0)), dtype=np.uint8)
    rows = np.arange(len(obs_c))
    for k in range(2):
        for j in range(3):
            sparsity[2 * rows + k, 6 * (C - 1) + 3 * obs_n + j] = 1
        for j in range(6):
            moving = obs_c > 0
            sparsity[2 * rows[moving] + k, 6 * (obs_c[moving] - 1) + j] = 1
    fit = least_squares(
        residuals,
        params0,
        jac_sparsity=sparsity,
        loss="soft_l1",
        f_scale=threshold_px / 3,
        x_scale="jac",
        max_nfev=max_iterations,
        method="trf",
    )
    pose = fit.x[: 6 * (C - 1)].reshape(C - 1, 6)
    out = [cams[0]] + [
        replace(cams[c], R=Rotation.from_rotvec(pose[c - 1, :3]).as_matrix(), t=pose[c - 1, 3:].copy()) for c in range(1, C)
    ]
    err = np.full((C, N), np.nan)
    err[obs_c, obs_n] = np.linalg.norm(fit.fun.reshape(-1, 2), axis=1)
    return out, fit.x[6 * (C - 1) :].reshape(N, 3), err


def _to_floor_frame(cams: list[Camera], X: np.ndarray, names: tuple[str, ...], ankle_height: float) -> list[Camera]:
    """Rigidly move the world so z runs up the body, z = 0 is the floor and the hips stand over the origin."""
    idx = {n: names.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_ankle", "right_ankle")}
    P = X.reshape(-1, len(names), 3)
    mid = lambda a, b: (P[:, idx[a]] + P[:, idx[b]]) / 2  # noqa: E731
    up = np.nanmedian(mid("left_shoulder", "right_shoulder") - mid("left_ankle", "right_ankle"), 0)
    up /= np.linalg.norm(up)
    ref = np.array([1.0, 0, 0]) if abs(up[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(ref, up)
    x /= np.linalg.norm(x)
    A = np.stack([x, np.cross(up, x), up])  # rows: new axes in old coordinates
    ankles = np.concatenate([P[:, idx["left_ankle"]], P[:, idx["right_ankle"]]]) @ A.T
    hips = mid("left_hip", "right_hip") @ A.T
    b = -np.array([np.nanmedian(hips[:, 0]), np.nanmedian(hips[:, 1]), np.nanpercentile(ankles[:, 2], 5) - ankle_height])
    out = []
    for c in cams:
        R = c.R @ A.T
        out.append(replace(c, R=R, t=c.t - R @ b))
    return out


def _pair_poses(xy: np.ndarray, good: np.ndarray, thr: list[float]) -> dict[tuple[int, int], tuple[int, np.ndarray, np.ndarray]]:
    """Per camera pair with enough shared keypoints: essential-matrix inliers and the relative pose."""
    pairs = {}
    for a, b in combinations(range(len(xy)), 2):
        both = good[a] & good[b]
        if both.sum() < 8:
            continue
        E, mask = cv2.findEssentialMat(xy[a, both], xy[b, both], np.eye(3), cv2.RANSAC, 0.999, min(thr[a], thr[b]))
        if E is None:
            continue
        n, R, t, mask = cv2.recoverPose(E[:3], xy[a, both], xy[b, both], np.eye(3), mask=mask)
        pairs[(a, b)] = (int(n), R, t.ravel())
    if not pairs:
        raise NtopError("no camera pair shares enough confident keypoints", field="confidence")
    return pairs


def _place_the_rest(
    cams: list[Camera],
    poses: dict,
    uv_flat: np.ndarray,
    conf_flat: np.ndarray,
    xy: np.ndarray,
    good: np.ndarray,
    thr: list[float],
    tri: TriangulateConfig,
) -> None:
    """Add cameras to ``poses`` one at a time, the one seeing most triangulated keypoints first (PnP)."""
    while True:
        order = sorted(poses)
        X = triangulate_points(_posed(cams, poses, order), uv_flat[order], conf_flat[order], tri)["points"]
        rest = [c for c in range(len(cams)) if c not in poses]
        if not rest:
            return
        counts = {c: int((good[c] & np.isfinite(X[:, 0])).sum()) for c in rest}
        c = max(counts, key=counts.get)
        sel = good[c] & np.isfinite(X[:, 0])
        if counts[c] < 6:
            raise NtopError(f"camera {cams[c].name} shares too few keypoints with the others", field="confidence")
        ok, rvec, tvec, _ = cv2.solvePnPRansac(
            X[sel], xy[c, sel], np.eye(3), None, reprojectionError=thr[c] * 2, iterationsCount=500
        )
        if not ok:
            raise NtopError(f"camera {cams[c].name} could not be placed", field="confidence")
        poses[c] = (cv2.Rodrigues(rvec)[0], tvec.ravel())


def calibrate_cameras(
    cams: list[Camera], uv: np.ndarray, conf: np.ndarray, joint_set: str, body: BodyModel, cfg: CalibrateConfig
) -> tuple[list[Camera], dict[str, Any]]:
    """Poses for ``cams`` (intrinsics used, extrinsics ignored) from keypoints ``uv (C, T, J, 2)``, ``conf (C, T, J)``."""
    C, T, J = conf.shape
    if C < 2:
        raise NtopError("calibration needs at least two cameras", field="cameras")
    names = JOINT_SETS[joint_set].names
    uv_flat, conf_flat = uv.reshape(C, T * J, 2), conf.reshape(C, T * J)
    good = conf_flat >= cfg.min_confidence
    xy = np.stack([_normalised(cam, uv_flat[c]) for c, cam in enumerate(cams)])
    good &= np.isfinite(xy).all(-1)
    thr = [cfg.threshold_px / float(np.mean(cam.K[:2])) for cam in cams]
    pairs = _pair_poses(xy, good, thr)
    (a, b), (_, R, t) = max(pairs.items(), key=lambda kv: kv[1][0])
    poses = {a: (np.eye(3), np.zeros(3)), b: (R, t)}
    tri = TriangulateConfig(threshold_px=cfg.threshold_px * 2, min_confidence=cfg.min_confidence)
    _place_the_rest(cams, poses, uv_flat, conf_flat, xy, good, thr, tri)
    # bundle adjustment in the frame of camera `a` (renumbered first: it stays fixed)
    order = [a] + [c for c in range(C) if c != a]
    posed = _posed(cams, poses, order)
    res = triangulate_points(posed, uv_flat[order], conf_flat[order], tri)
    used = (res["inliers"].T & good[order]) & np.isfinite(res["points"][:, 0])[None]
    keep = used.sum(0) >= 2
    refined, X, err = _bundle_adjust(
        posed, uv_flat[order][:, keep], used[:, keep], res["points"][keep], cfg.threshold_px, cfg.max_iterations
    )
    refined = [refined[order.index(c)] for c in range(C)]
    err = err[[order.index(c) for c in range(C)]]
    Xall = np.full((T * J, 3), np.nan)
    Xall[keep] = X
    measured = np.nanmedian(bone_lengths(Xall.reshape(T, J, 3), names), 0)
    prior = _prior_bones(body, joint_set, cfg)
    scale = float(np.sum(prior) / np.sum(measured))
    spread = proportion_spread(measured, prior)
    refined = [replace(c, t=c.t * scale) for c in refined]
    refined = _to_floor_frame(refined, Xall * scale, names, cfg.ankle_height_m)
    report = {
        "cameras": [c.name for c in cams],
        "reference_camera": cams[a].name,
        "pair_inliers": {f"{cams[i].name}-{cams[j].name}": v[0] for (i, j), v in pairs.items()},
        "observations": int(keep.sum()),
        "residual_px": {cams[c].name: float(np.nanmedian(err[c])) if np.isfinite(err[c]).any() else None for c in range(C)},
        "scale": scale,
        "scale_prior": _scale_prior(cfg),
        "bone_ratio_spread": spread,
    }
    if spread > PROPORTION_SPREAD_WARN:
        report["warning"] = (
            f"the calibrated rig makes a skeleton of unlikely proportions (bone-length spread {spread:.3f} > "
            f"{PROPORTION_SPREAD_WARN}): the motion may not constrain the rig (a subject in place, few frames); "
            "check the leave-one-camera-out error in qa keypoints, or give the rig's extrinsics"
        )
    return refined, report


def proportion_spread(measured: np.ndarray, prior: np.ndarray) -> float:
    """How unlike the body the reconstructed skeleton is: the spread of the body's bone lengths over
    the measured ones' (:data:`BONES`), at their common scale. A wrong rig that still fits the keypoints
    (a 180-degree flip, a rig sheared along a direction the motion never spanned) distorts the
    proportions even where its reprojection residual looks as good as a right rig's."""
    scale = np.sum(prior) / np.sum(measured)
    return float(np.std(prior / (measured * scale)))


def _scale_prior(cfg: CalibrateConfig) -> str:
    """What set the rig's size: the keypoints alone fix it only up to scale."""
    if cfg.height_m is not None:
        return f"height_m {cfg.height_m:g}"
    return "betas" if cfg.betas else NEUTRAL_SCALE_PRIOR


def _in_world_of(cams: list[Camera], given: list[Camera]) -> list[Camera]:
    """``cams`` moved by the similarity that best maps their centres onto ``given``'s."""
    Q, s, b = procrustes(np.stack([c.center for c in cams]), np.stack([c.center for c in given]), scale=True)
    return [replace(c, R=c.R @ Q.T, t=-(c.R @ Q.T) @ (s * Q @ c.center + b)) for c in cams]


def refine_cameras(cams: list[Camera], uv: np.ndarray, conf: np.ndarray, cfg: CalibrateConfig) -> tuple[list[Camera], dict]:
    """``cams``' poses refined on keypoints ``uv (C, T, J, 2)``, ``conf (C, T, J)``, in ``cams``' world."""
    C, T, J = conf.shape
    uv_flat, conf_flat = uv.reshape(C, T * J, 2), conf.reshape(C, T * J)
    tri = TriangulateConfig(threshold_px=cfg.threshold_px * 2, min_confidence=cfg.min_confidence)
    res = triangulate_points(cams, uv_flat, conf_flat, tri)
    used = res["inliers"].T & (conf_flat >= cfg.min_confidence) & np.isfinite(res["points"][:, 0])[None]
    keep = used.sum(0) >= 2
    if keep.sum() < 6 * C:
        message = f"only {int(keep.sum())} keypoints are seen by two cameras: too few to refine {C} cameras"
        raise NtopError(message, field="confidence")
    px = reprojection(cams, res["points"][keep]).transpose(1, 0, 2)  # (C, N, 2)
    before = np.nanmedian(np.linalg.norm(px - uv_flat[:, keep], axis=-1)[used[:, keep]])
    obs, seen = uv_flat[:, keep], used[:, keep]
    moved, _, err = _bundle_adjust(cams, obs, seen, res["points"][keep], cfg.threshold_px, cfg.max_iterations)
    refined = _in_world_of(moved, cams)
    report = {
        "refined_from": "the capture's cameras",
        "observations": int(keep.sum()),
        "residual_px_before": float(before),
        "residual_px": {c.name: float(np.nanmedian(err[i])) for i, c in enumerate(cams)},
        "rotation_change_deg": {c.name: _turn_deg(c, r) for c, r in zip(cams, refined)},
        "centre_change_m": {c.name: float(np.linalg.norm(r.center - c.center)) for c, r in zip(cams, refined)},
    }
    return refined, report


def _turn_deg(a: Camera, b: Camera) -> float:
    return float(np.degrees(Rotation.from_matrix(b.R @ a.R.T).magnitude()))


def camera_errors(est: list[Camera], gt: list[Camera]) -> dict[str, Any]:
    """Rotation (degrees) and centre errors of calibrated cameras after the best rigid alignment of
    their centres to the true ones (``centre_m``: scale is part of what is measured), and the rig's
    shape apart from its size: the scale of the best similarity (``scale_error_pct``) and the centres'
    errors after it (``shape_centre_pct_of_radius``). Keypoints fix a rig up to scale; its size comes
    from the scale prior (the subject's height or shape)."""
    ce, cg = np.stack([c.center for c in est]), np.stack([c.center for c in gt])
    Q, _, b = procrustes(ce, cg)  # est world -> gt world
    centre_err = np.linalg.norm(ce @ Q.T + b - cg, axis=1)
    rot_err = [np.degrees(Rotation.from_matrix(g.R @ (e.R @ Q.T).T).magnitude()) for e, g in zip(est, gt)]
    Qs, scale, bs = procrustes(ce, cg, scale=True)
    shape_err = np.linalg.norm(scale * ce @ Qs.T + bs - cg, axis=1)
    radius = float(np.linalg.norm(cg[:, :2] - cg[:, :2].mean(0), axis=1).mean())
    return {
        "rotation_deg": {g.name: float(r) for g, r in zip(gt, rot_err)},
        "centre_m": {g.name: float(e) for g, e in zip(gt, centre_err)},
        "centre_pct_of_radius": {g.name: float(100 * e / radius) for g, e in zip(gt, centre_err)},
        "scale_error_pct": float(100 * (1 / scale - 1)),  # the calibrated rig's size against the true one
        "shape_centre_pct_of_radius": {g.name: float(100 * e / radius) for g, e in zip(gt, shape_err)},
        "rig_radius_m": radius,
    }


def calibrate(keypoints2d: list[str | Path], body: BodyModel, out: str | Path, cfg: CalibrateConfig) -> dict[str, Any]:
    """Calibrate from one or more ``keypoints2d.h5`` of the same rig (e.g. every action of a subject)."""
    uvs, confs, cams, joint_set = [], [], None, None
    for path in keypoints2d:
        with open_stage(path, KEYPOINTS2D_SCHEMA) as f:
            these = read_cameras(require(f, "cameras"))
            if cams is not None and [c.name for c in these] != [c.name for c in cams]:
                raise NtopError("cameras differ from the first keypoints file's", path, "cameras")
            if joint_set is not None and f.attrs["joint_set"] != joint_set:
                raise NtopError("joint set differs from the first keypoints file's", path, "joint_set")
            cams, joint_set = these, str(f.attrs["joint_set"])
            uvs.append(require(f, "joints")[()])
            confs.append(require(f, "confidence")[()])
    if cams is None or joint_set is None:
        raise NtopError("no keypoints files given", field="keypoints2d")
    uv, conf = np.concatenate(uvs, 1), np.concatenate(confs, 1)
    if cfg.refine:
        calibrated, report = refine_cameras(cams, uv, conf, cfg)
    else:
        calibrated, report = calibrate_cameras(cams, uv, conf, joint_set, body, cfg)
    with create_stage(out, CALIBRATION_SCHEMA, 1, params=asdict(cfg), inputs=list(keypoints2d), units="metres") as f:
        write_cameras(f.create_group("cameras"), calibrated)
        f.attrs["report"] = json.dumps(report)
    return report
