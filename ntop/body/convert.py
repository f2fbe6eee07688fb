"""Other datasets' body conventions -> SMPL's own ``global_orient``, ``body_pose``, ``transl``, ``betas``
(plus the posed ``pelvis`` every stage reads), so a converted capture looks like any other.

* EasyMocap/Neural Body (ZJU-MoCap): the body is posed about the origin, then rotated by ``Rh`` and
  moved by ``Th``; SMPL rotates about the root joint ``J0`` instead, so the translation changes.
* SMPL-X (GeneBody): the 21 body joints and the root are SMPL's first 22, the hands are dropped;
  shape parameters do not carry across models, so ``betas`` and ``transl`` are fitted to the SMPL-X
  body joints (which include the dataset's overall scale).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.body.model import BodyModel

__all__ = ["from_rh_th", "from_smplx_joints"]

SMPLX_BODY_JOINTS = 22  # root + 21 body joints, in SMPL's order


def _rest_root(body: BodyModel, betas: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        _, joints = body.shaped(torch.as_tensor(betas, dtype=body.template.dtype).reshape(1, -1))
    return joints[0, 0].double().numpy()


def from_rh_th(body: BodyModel, Rh: np.ndarray, Th: np.ndarray, poses: np.ndarray, shapes: np.ndarray) -> dict[str, np.ndarray]:
    """``Rh (T, 3)``, ``Th (T, 3)`` metres, ``poses (T, 72)``, ``shapes (10,)`` -> SMPL parameters.

    X = R(Rh) SMPL(poses) + Th  and  X = R(g) (X_rest - J0) + J0 + t  agree for
    g = Rh o poses[:3]  and  t = R(Rh) J0 + Th - J0.
    """
    Rh, Th, poses = (np.asarray(a, np.float64).reshape(len(a), -1) for a in (Rh, Th, poses))
    J0 = _rest_root(body, shapes)
    rh = Rotation.from_rotvec(Rh)
    orient = (rh * Rotation.from_rotvec(poses[:, :3])).as_rotvec()
    transl = rh.apply(J0) + Th - J0
    return {
        "global_orient": orient,
        "body_pose": poses[:, 3:72],
        "transl": transl,
        "betas": np.asarray(shapes, np.float64).reshape(-1),
        "pelvis": transl + J0,
    }


def from_smplx_joints(
    body: BodyModel, global_orient: np.ndarray, body_pose: np.ndarray, joints: np.ndarray, iterations: int = 300
) -> tuple[dict[str, np.ndarray], float]:
    """SMPL-X ``global_orient (T, 3)``, ``body_pose (T, 63)`` and its posed joints ``(T, >=22, 3)`` in world
    metres -> SMPL parameters, with one ``betas`` and per-frame ``transl`` fitted so SMPL's first 22
    joints land on SMPL-X's. Returns the parameters and the mean joint error in metres."""
    T = len(global_orient)
    pose = np.zeros((T, 69))
    pose[:, :63] = np.asarray(body_pose, np.float64).reshape(T, 63)
    target = torch.as_tensor(np.asarray(joints, np.float64)[:, :SMPLX_BODY_JOINTS], dtype=torch.float32)
    orient_t = torch.as_tensor(np.asarray(global_orient, np.float64).reshape(T, 3), dtype=torch.float32)
    pose_t = torch.as_tensor(pose, dtype=torch.float32)
    betas = torch.zeros(1, body.num_betas, requires_grad=True)
    transl = (target[:, 0] - body.joints_only(orient_t, pose_t)[:, 0].detach()).clone().requires_grad_(True)
    opt = torch.optim.Adam([betas, transl], lr=0.05)
    for _ in range(iterations):
        opt.zero_grad()
        err = (body.joints_only(orient_t, pose_t, betas, transl)[:, :SMPLX_BODY_JOINTS] - target).norm(dim=-1).mean()
        (err + 1e-4 * betas.square().sum()).backward()
        opt.step()
    with torch.no_grad():
        joints_fit = body.joints_only(orient_t, pose_t, betas, transl)
        err = float((joints_fit[:, :SMPLX_BODY_JOINTS] - target).norm(dim=-1).mean())
    params = {
        "global_orient": orient_t.double().numpy(),
        "body_pose": pose,
        "transl": transl.detach().double().numpy(),
        "betas": betas.detach()[0].double().numpy(),
        "pelvis": joints_fit[:, 0].double().numpy(),
    }
    return params, err
