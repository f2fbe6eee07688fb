"""``fit_smpl``: a subject's bodies from its keypoints, every action at once (one shape per subject).

``multiview`` fits the triangulated 3D keypoints (and, with ``weight_2d > 0``, every view's 2D
keypoints); ``monocular`` fits one camera's 2D keypoints. Given a first fit (``init``) and the
foreground masks of every action, it refines that fit instead (rule ``refine_fit``): the same
keypoint terms plus a silhouette term (``ntop.fit.silhouette``) that corrects the body's girth and
shape. Writes ``smpl.h5`` (betas at the root, one group per action with the parameters, the fitted
joints, the posed pelvis and per-frame residuals), and optionally an EasyMocap-style folder of
per-frame JSON files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import SMPL_SCHEMA, read_smpl
from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.fit.core import FitConfig, View2D, fit_bodies
from ntop.fit.monocular import fit_monocular, monocular_config
from ntop.fit.silhouette import SilhouetteTerm
from ntop.io import atomic_path, create_stage, open_stage, read_cameras, require
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.keypoints.triangulate import KEYPOINTS3D_SCHEMA
from ntop.masks.stage import MASKS_SCHEMA, read_masks
from ntop.settings import resolve_device

__all__ = ["fit_smpl", "write_easymocap"]


def _read(path: str | Path, schema: str) -> dict[str, Any]:
    with open_stage(path, schema) as f:
        out = {
            "joint_set": str(f.attrs["joint_set"]),
            "frame_index": require(f, "frame_index")[()],
            "joints": require(f, "joints")[()],
            "cameras": read_cameras(require(f, "cameras")),
        }
        if schema == KEYPOINTS2D_SCHEMA:
            out["confidence"] = require(f, "confidence")[()]
    return out


def _views(k3: list[dict], k2: list[dict], mode: str, camera: str | None, where: str | Path) -> list[View2D]:
    """The 2D data terms: every camera of a multi-view fit, one (``camera``, else the first) of a monocular one."""
    if not k2:
        return []
    cams = k3[0]["cameras"] if k3 else k2[0]["cameras"]  # triangulation may carry calibrated cameras
    names = [c.name for c in cams]
    use = names if mode == "multiview" else [camera or names[0]]
    if any(n not in names for n in use):
        raise NtopError(f"camera {camera!r} is not one of {names}", where, "fit.camera")
    views = []
    for n in use:
        c = names.index(n)
        views.append(
            View2D(cams[c], np.concatenate([k["joints"][c] for k in k2]), np.concatenate([k["confidence"][c] for k in k2]))
        )
    return views


def _refine(
    body: BodyModel,
    cfg: FitConfig,
    mode: str,
    data: list[dict],
    views: list[View2D],
    X: np.ndarray | None,
    segments: np.ndarray,
    actions: list[str],
    init: str | Path,
    masks: list[str | Path],
) -> dict[str, np.ndarray]:
    """A first fit (``init``) refined against the masks' silhouettes."""
    if len(masks) != len(actions):
        raise NtopError(f"refining a fit needs one masks file per action ({len(actions)})", field="masks")
    joint_set = data[0]["joint_set"]
    cams = data[0]["cameras"] if mode == "multiview" else [views[0].camera]
    frames = [k["frame_index"] for k in data]
    term = SilhouetteTerm(
        cams, _masks(masks, cams, frames), body.faces, cfg.silhouette_sigma_px, resolve_device(cfg.device, "fit.device")
    )
    start, first_joints = _start(init, actions, frames, joint_set)
    if mode == "multiview":
        refine = replace(cfg, iterations_global=0, iterations=0, weight_2d=cfg.refine_weight_2d)
        used = views if refine.weight_2d > 0 else []
    else:  # one view's outline says nothing of depth (nor of the offsets): the first fit's own joints hold it
        refine = replace(
            monocular_config(cfg),
            iterations_global=0,
            iterations=0,
            weight_3d=cfg.monocular_anchor,
            weight_silhouette=cfg.monocular_weight_silhouette,
            personal_offsets=False,
            keypoint_offsets=False,
        )
        X, used = first_joints, views
    return fit_bodies(body, joint_set, refine, joints3d=X, views=used, segments=segments, init=start, silhouette=term)


def _write_bodies(
    out: str | Path,
    body: BodyModel,
    res: dict[str, np.ndarray],
    data: list[dict],
    actions: list[str],
    subject: str,
    mode: str,
    params: dict[str, Any],
    inputs: list[str | Path],
) -> None:
    """``smpl.h5``: one shape, and per action its frames' parameters, pelvis, joints and residuals."""
    joint_set = data[0]["joint_set"]
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        pelvis = body.joints_only(
            f32(res["global_orient"]), f32(res["body_pose"]), f32(res["betas"]), f32(res["transl"]), "smpl24"
        )[:, 0]
    with create_stage(out, SMPL_SCHEMA, 1, params=params, inputs=inputs, units="metres, radians") as f:
        f.attrs.update(subject=subject, joint_set=joint_set, actions=json.dumps(actions), mode=mode)
        f.create_dataset("betas", data=res["betas"])
        if res.get("offsets") is not None:
            f.create_dataset("offsets", data=res["offsets"]).attrs["meaning"] = "personal offsets of the rest vertices (metres)"
        if res.get("keypoint_offsets") is not None:
            meaning = "rest-pose offsets from the model's joints (joint_set) to the detector's keypoints (metres)"
            f.create_dataset("keypoint_offsets", data=res["keypoint_offsets"]).attrs["meaning"] = meaning
        start = 0
        for action, k in zip(actions, data):
            n = len(k["frame_index"])
            g = f.create_group(f"actions/{action}")
            sl = slice(start, start + n)
            g.create_dataset("frame_index", data=k["frame_index"])
            g.create_dataset("global_orient", data=res["global_orient"][sl])
            g.create_dataset("body_pose", data=res["body_pose"][sl].reshape(n, 69))
            g.create_dataset("transl", data=res["transl"][sl])
            g.create_dataset("pelvis", data=pelvis[sl].double().numpy())
            g.create_dataset(f"joints/{joint_set}", data=res["joints"][sl])
            g.create_dataset("error_3d_m", data=res["error_3d_m"][sl])
            g.create_dataset("error_2d_px", data=res["error_2d_px"][sl])
            start += n


def fit_smpl(
    body: BodyModel,
    actions: list[str],
    out: str | Path,
    cfg: FitConfig,
    *,
    mode: str = "multiview",
    keypoints3d: list[str | Path] = (),
    keypoints2d: list[str | Path] = (),
    camera: str | None = None,
    subject: str = "",
    init: str | Path | None = None,
    masks: list[str | Path] = (),
) -> dict[str, Any]:
    """Fit one subject's bodies (one shape across its actions) and write ``smpl.h5``: multi-view from
    triangulated joints (and their 2D detections), monocular from one camera's detections, or a first
    fit (``init``) refined against the ``masks``."""
    if mode not in ("multiview", "monocular"):
        raise NtopError(f"unknown mode {mode!r} (multiview, monocular)", field="fit.mode")
    needed = keypoints3d if mode == "multiview" else keypoints2d
    if len(needed) != len(actions) or (keypoints2d and len(keypoints2d) != len(actions)):
        raise NtopError(f"give one keypoints file per action ({len(actions)})", field="keypoints")
    if masks and init is None:
        raise NtopError("masks refine a first fit: give it too (--init)", field="masks")
    k3 = [_read(p, KEYPOINTS3D_SCHEMA) for p in keypoints3d]
    k2 = [_read(p, KEYPOINTS2D_SCHEMA) for p in keypoints2d]
    data = k3 or k2
    joint_set = data[0]["joint_set"]
    segments = np.repeat(np.arange(len(actions)), [len(k["frame_index"]) for k in data])
    views = _views(k3, k2, mode, camera, keypoints2d[0] if keypoints2d else "")
    X = np.concatenate([k["joints"] for k in k3]) if mode == "multiview" else None
    if init is not None:
        res = _refine(body, cfg, mode, data, views, X, segments, actions, init, masks)
    elif mode == "multiview":
        res = fit_bodies(body, joint_set, cfg, joints3d=X, views=views if cfg.weight_2d > 0 else [], segments=segments)
    else:
        res = fit_monocular(body, views[0], joint_set, cfg, segments=segments)
    params = {"mode": mode, "camera": camera, "refined": init is not None, **asdict(cfg)}
    inputs = list(keypoints3d) + list(keypoints2d) + ([init] if init is not None else []) + list(masks)
    _write_bodies(out, body, res, data, actions, subject, mode, params, inputs)
    finite = lambda a, scale: float(np.nanmean(a) * scale) if np.isfinite(a).any() else None  # noqa: E731
    errors = {"mean_error_3d_mm": finite(res["error_3d_m"], 1000), "mean_error_2d_px": finite(res["error_2d_px"], 1)}
    return {"frames": int(len(segments)), **errors, "objective": res["objective"]}


def _start(
    path: str | Path, actions: list[str], frames: list[np.ndarray], joint_set: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A first fit's parameters and fitted joints ``(T, J, 3)`` over every action, frames checked against the keypoints'."""
    seqs = [read_smpl(path, a) for a in actions]
    for a, seq, index in zip(actions, seqs, frames):
        if not np.array_equal(seq.frame_index, index):
            raise NtopError(f"the fit's frames of {a!r} are not the keypoints'", path, f"actions/{a}/frame_index")
    start = {k: np.concatenate([s.params()[k] for s in seqs]) for k in ("global_orient", "body_pose", "transl")}
    start["betas"] = seqs[0].betas
    with open_stage(path, SMPL_SCHEMA) as f:
        joints = np.concatenate([require(f, f"actions/{a}/joints/{joint_set}")[()] for a in actions])
    return start, joints


def _masks(paths: list[str | Path], cams: list[Camera], frames: list[np.ndarray]) -> list[np.ndarray]:
    """``(T, H, W) bool`` per camera over every action, frames checked against the keypoints'."""
    for path, index in zip(paths, frames):
        with open_stage(path, MASKS_SCHEMA) as f:
            if not np.array_equal(require(f, "frame_index")[()], index):
                raise NtopError("the masks' frames are not the keypoints'", path, "frame_index")
    out = [np.concatenate([read_masks(path, cam.name) for path in paths]) for cam in cams]
    for cam, m in zip(cams, out):
        if m.shape[1:] != (cam.height, cam.width):
            raise NtopError(
                f"masks are {m.shape[2]}x{m.shape[1]}, the camera {cam.width}x{cam.height}", paths[0], f"masks/{cam.name}"
            )
    return out


def write_easymocap(body: BodyModel, smpl_path: str | Path, out_dir: str | Path) -> int:
    """EasyMocap's per-frame SMPL JSON (``{action}/{frame:06d}.json``: a list with one person, ``id``,
    ``Rh``, ``Th``, ``poses`` (72, global part zero), ``shapes``). EasyMocap rotates about the model
    origin where smplx rotates about the pelvis, so ``Th = transl + J0 - R(Rh) J0``."""
    from scipy.spatial.transform import Rotation

    count = 0
    with open_stage(smpl_path, SMPL_SCHEMA) as f, atomic_path(out_dir) as tmp:
        betas = require(f, "betas")[()]
        J0 = body.shaped(torch.as_tensor(betas, dtype=torch.float32)[None])[1][0, 0].double().numpy()
        tmp.mkdir(parents=True)
        for action in json.loads(f.attrs["actions"]):
            g = f[f"actions/{action}"]
            (tmp / action).mkdir()
            go, pose, tr = g["global_orient"][()], g["body_pose"][()], g["transl"][()]
            for i, frame in enumerate(g["frame_index"][()]):
                Th = tr[i] + J0 - Rotation.from_rotvec(go[i]).apply(J0)
                person = {
                    "id": 0,
                    "Rh": [go[i].tolist()],
                    "Th": [Th.tolist()],
                    "poses": [[0.0, 0.0, 0.0] + pose[i].tolist()],
                    "shapes": [betas.tolist()],
                }
                (tmp / action / f"{int(frame):06d}.json").write_text(json.dumps([person]))
                count += 1
    return count
