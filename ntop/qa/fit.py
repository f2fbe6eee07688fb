"""``ntop qa fit``: fitted SMPL bodies against the ground-truth ones.

Figures per action and overall: MPJPE over SMPL's 24 joints, PA-MPJPE (each frame aligned by a
similarity first, the usual monocular figure), mean vertex error, and the shape's error in betas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.align import procrustes
from ntop.body import BodyModel
from ntop.body.params import read_smpl
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import write_json

__all__ = ["MPJPE_MAX_MM", "VERTEX_MAX_MM", "PA_MPJPE_MAX_MM", "pa_errors", "check_fit", "run"]

MPJPE_MAX_MM = 20.0
VERTEX_MAX_MM = 25.0
PA_MPJPE_MAX_MM = 50.0


def pa_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-joint errors ``(T, J)`` after aligning each frame of ``pred`` to ``gt`` by rotation, scale and translation."""
    R, s, t = procrustes(pred, gt, scale=True)
    return np.linalg.norm(s[:, None, None] * pred @ np.swapaxes(R, 1, 2) + t[:, None] - gt, axis=-1)


def _posed(body: BodyModel, params: dict[str, np.ndarray]) -> Any:
    f = lambda k: torch.as_tensor(params[k], dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        return body(f("global_orient"), f("body_pose"), f("betas")[None], f("transl"))


def check_fit(smpl_path: str | Path, captures: list[str | Path], body: BodyModel, monocular: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = {"actions": {}}
    all_j, all_pa, all_v = [], [], []
    for cap_path in captures:
        with Capture(cap_path) as cap:
            if not cap.has_gt:
                raise NtopError("qa fit needs a capture with ground-truth SMPL", cap_path, "gt/smpl")
            action = cap.action
        gt, fit = read_smpl(cap_path), read_smpl(smpl_path, action)
        rows = np.searchsorted(gt.frame_index, fit.frame_index)
        if not np.array_equal(gt.frame_index[np.clip(rows, 0, len(gt.frame_index) - 1)], fit.frame_index):
            raise NtopError("fitted frames are not in the capture", smpl_path, f"actions/{action}/frame_index")
        og, of = _posed(body, gt.take(rows).params()), _posed(body, fit.params())
        ej = (of.joints - og.joints).norm(dim=-1).numpy() * 1000
        ev = (of.vertices - og.vertices).norm(dim=-1).mean(1).numpy() * 1000
        pa = pa_errors(of.joints.double().numpy(), og.joints.double().numpy()) * 1000
        report["actions"][action] = {"mpjpe_mm": float(ej.mean()), "pa_mpjpe_mm": float(pa.mean()), "vertex_mm": float(ev.mean()), "frames": len(rows)}
        all_j.append(ej.mean(1))
        all_pa.append(pa.mean(1))
        all_v.append(ev)
        betas_gt = gt.betas
    overall = {
        "mpjpe_mm": float(np.concatenate(all_j).mean()),
        "pa_mpjpe_mm": float(np.concatenate(all_pa).mean()),
        "vertex_mm": float(np.concatenate(all_v).mean()),
        "betas_rmse": float(np.sqrt(np.mean((read_smpl(smpl_path, action).betas - betas_gt) ** 2))),
    }
    if monocular:
        overall["passed"] = overall["pa_mpjpe_mm"] <= PA_MPJPE_MAX_MM
    else:
        overall["passed"] = overall["mpjpe_mm"] <= MPJPE_MAX_MM and overall["vertex_mm"] <= VERTEX_MAX_MM
    report["overall"] = overall
    report["passed"] = bool(overall["passed"])
    return report


def run(smpl_path: str | Path, captures: list[str | Path], body: BodyModel, out_json: str | Path) -> dict[str, Any]:
    import h5py

    with h5py.File(smpl_path, "r") as f:
        monocular = f.attrs.get("mode") == "monocular"
    report = check_fit(smpl_path, captures, body, monocular)
    write_json(out_json, report)
    return report
