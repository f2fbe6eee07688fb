"""``fit_smpl``: a subject's bodies from its keypoints, every action at once (one shape per subject).

``multiview`` fits the triangulated 3D keypoints (and, with ``weight_2d > 0``, every view's 2D
keypoints); ``monocular`` fits one camera's 2D keypoints. Writes ``smpl.h5`` (betas at the root, one
group per action with the parameters, the fitted joints, the posed pelvis and per-frame residuals),
and optionally an EasyMocap-style folder of per-frame JSON files.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import SMPL_SCHEMA
from ntop.errors import NtopError
from ntop.fit.core import FitConfig, View2D, fit_bodies
from ntop.fit.monocular import fit_monocular
from ntop.io import atomic_path, create_stage, open_stage, read_cameras, require
from ntop.keypoints.detect import KEYPOINTS2D_SCHEMA
from ntop.keypoints.triangulate import KEYPOINTS3D_SCHEMA

__all__ = ["fit_smpl", "write_easymocap"]


def _read(path: str | Path, schema: str) -> dict[str, Any]:
    with open_stage(path, schema) as f:
        out = {"joint_set": str(f.attrs["joint_set"]), "frame_index": require(f, "frame_index")[()], "joints": require(f, "joints")[()],
               "cameras": read_cameras(require(f, "cameras"))}  # fmt: skip
        if schema == KEYPOINTS2D_SCHEMA:
            out["confidence"] = require(f, "confidence")[()]
    return out


def fit_smpl(
    body: BodyModel,
    actions: list[str],
    out: str | Path,
    cfg: FitConfig,
    mode: str = "multiview",
    keypoints3d: list[str | Path] = (),
    keypoints2d: list[str | Path] = (),
    camera: str | None = None,
    subject: str = "",
) -> dict[str, Any]:
    if mode not in ("multiview", "monocular"):
        raise NtopError(f"unknown mode {mode!r} (multiview, monocular)", field="fit.mode")
    needed = keypoints3d if mode == "multiview" else keypoints2d
    if len(needed) != len(actions) or (keypoints2d and len(keypoints2d) != len(actions)):
        raise NtopError(f"give one keypoints file per action ({len(actions)})", field="keypoints")
    k3 = [_read(p, KEYPOINTS3D_SCHEMA) for p in keypoints3d]
    k2 = [_read(p, KEYPOINTS2D_SCHEMA) for p in keypoints2d]
    first = (k3 or k2)[0]
    joint_set = first["joint_set"]
    lengths = [len(k["frame_index"]) for k in (k3 or k2)]
    segments = np.repeat(np.arange(len(actions)), lengths)
    views = []
    if k2:
        cams = k3[0]["cameras"] if k3 else k2[0]["cameras"]  # triangulation may carry calibrated cameras
        names = [c.name for c in cams]
        use = names if mode == "multiview" else [camera or names[0]]
        if any(n not in names for n in use):
            raise NtopError(f"camera {camera!r} is not one of {names}", keypoints2d[0], "fit.camera")
        for n in use:
            c = names.index(n)
            views.append(View2D(cams[c], np.concatenate([k["joints"][c] for k in k2]), np.concatenate([k["confidence"][c] for k in k2])))
    if mode == "multiview":
        X = np.concatenate([k["joints"] for k in k3])
        res = fit_bodies(body, joint_set, cfg, joints3d=X, views=views if cfg.weight_2d > 0 else [], segments=segments)
    else:
        res = fit_monocular(body, views[0], joint_set, cfg, segments=segments)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        pelvis = body.joints_only(f32(res["global_orient"]), f32(res["body_pose"]), f32(res["betas"]), f32(res["transl"]), "smpl24")[:, 0]
    params = {"mode": mode, "camera": camera, **asdict(cfg)}
    inputs = list(keypoints3d) + list(keypoints2d)
    with create_stage(out, SMPL_SCHEMA, 1, params=params, inputs=inputs, units="metres, radians") as f:
        f.attrs.update(subject=subject, joint_set=joint_set, actions=json.dumps(actions), mode=mode)
        f.create_dataset("betas", data=res["betas"])
        start = 0
        for action, n, k in zip(actions, lengths, k3 or k2):
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
    return {
        "frames": int(len(segments)),
        "mean_error_3d_mm": float(np.nanmean(res["error_3d_m"]) * 1000) if np.isfinite(res["error_3d_m"]).any() else None,
        "mean_error_2d_px": float(np.nanmean(res["error_2d_px"])) if np.isfinite(res["error_2d_px"]).any() else None,
        "objective": res["objective"],
    }


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
                person = {"id": 0, "Rh": [go[i].tolist()], "Th": [Th.tolist()], "poses": [[0.0, 0.0, 0.0] + pose[i].tolist()], "shapes": [betas.tolist()]}
                (tmp / action / f"{int(frame):06d}.json").write_text(json.dumps([person]))
                count += 1
    return count
