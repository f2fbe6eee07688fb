"""``ntop qa capture``: is the capture self-consistent, and what does it look like?

With ground truth (synthetic): the stored 2D joints are the projections of the stored 3D joints
through the stored cameras (visibility 0 exactly where a joint leaves the image or the field of
view), and the stored masks are the silhouettes of the body posed from the stored SMPL parameters.
With a dataset's own SMPL and masks (ZJU-MoCap, GeneBody): the masks overlap the SMPL silhouettes,
which catches a wrong unit, axis or SMPL convention in the conversion. Writes one subject's figures
(a section per action) as JSON and one contact sheet (every camera; skeleton and outline where known).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.body import JOINT_SETS, BodyModel
from ntop.body.params import read_smpl
from ntop.datasets.canonical import Capture
from ntop.io import atomic_path, write_image, write_json
from ntop.masks.prior import silhouettes
from ntop.masks.stage import frame_ious
from ntop.qa.verdict import not_run, overall
from ntop.sheets import draw_mask_outline, draw_skeleton, grid, label

__all__ = ["check_capture", "contact_sheet", "run"]

REPROJ_TOL_PX = 1e-6
MASK_IOU_MIN = 0.99
DATASET_MASK_IOU_MIN = 0.5  # a dataset's masks include clothes and hair; a wrong unit or axis gives ~0


def check_capture(cap: Capture, body: BodyModel) -> dict[str, Any]:
    """Figures of the ground-truth checks; ``passed`` says whether all are within tolerance."""
    report: dict[str, Any] = {"capture": cap.summary(), "checks": {}}
    for s in cap.gt_keys("joints3d") if cap.has_gt else []:
        j3 = cap.gt(f"joints3d/{s}")
        j2, vis = cap.gt(f"joints2d/{s}"), cap.gt(f"visibility/{s}")
        errs, mismatched = [], 0
        for c, cam in enumerate(cap.cameras):
            uv, valid = cam.project(j3)
            labelled = vis[c] > 0
            mismatched += int((labelled != valid).sum())
            errs.append(np.linalg.norm(uv - j2[c], axis=-1)[labelled & valid])
        e = np.concatenate(errs)
        report["checks"][f"reprojection_{s}"] = (
            {
                "max_px": float(e.max()) if e.size else 0.0,
                "mean_px": float(e.mean()) if e.size else 0.0,
                "labelled": int(e.size),
                "visibility_mismatches": mismatched,
                "passed": bool((e.size == 0 or e.max() <= REPROJ_TOL_PX) and mismatched == 0),
            }
            if e.size or mismatched
            else not_run("no joint is labelled in any view", visibility_mismatches=0)
        )
    masks = cap.masks()
    has_smpl = "smpl" in cap.h5 or "gt/smpl" in cap.h5
    if masks is not None and has_smpl:
        seq = read_smpl(cap.path)
        with torch.no_grad():
            verts = body.pose(seq.params()).vertices
        ious = np.stack([frame_ious(silhouettes(body, verts, cam), masks[c][()] > 0) for c, cam in enumerate(cap.cameras)])
        bar = MASK_IOU_MIN if cap.has_gt else DATASET_MASK_IOU_MIN
        report["checks"]["mask_vs_silhouette"] = {
            "mean_iou": float(ious.mean()),
            "min_iou": float(ious.min()),
            "worst": [int(i) for i in np.unravel_index(ious.argmin(), ious.shape)],
            "bar": bar,
            "passed": bool(ious.min() >= bar),
        }
    report["passed"] = overall(report["checks"].values())
    return report


def contact_sheet(caps: list[Capture], joint_set: str = "coco17") -> np.ndarray:
    """Every camera (columns) of every action: at the first, middle and last frame (rows) for one
    action, at the middle frame for several; skeleton and mask outline drawn."""
    tiles = []
    for cap in caps:
        T = len(cap.frame_index)
        picks = sorted(set(np.linspace(0, T - 1, 3).round().astype(int).tolist())) if len(caps) == 1 else [T // 2]
        masks = cap.masks()
        skeleton = cap.has_gt and f"gt/joints2d/{joint_set}" in cap.h5
        j2, vis = (cap.gt(f"joints2d/{joint_set}"), cap.gt(f"visibility/{joint_set}")) if skeleton else (None, None)
        for k in picks:
            for c, cam in enumerate(cap.cameras):
                img = cap.frame(c, k).copy()
                if masks is not None:
                    draw_mask_outline(img, masks[c][k])
                if skeleton:
                    draw_skeleton(img, j2[c, k], vis[c, k], JOINT_SETS[joint_set].edges)
                tiles.append(label(img, f"{cap.action} {cam.name} f{int(cap.frame_index[k])}"))
    return grid(tiles, cols=max(len(cap.cameras) for cap in caps))


def run(
    captures: list[tuple[str | Path, str | Path]], body: BodyModel, out_json: str | Path, out_sheet: str | Path
) -> dict[str, Any]:
    """One subject's report (``actions`` -> each capture's checks) and contact sheet, from its
    (capture.h5, frames.h5) pairs."""
    with contextlib.ExitStack() as stack:
        caps = [stack.enter_context(Capture(capture, frames)) for capture, frames in captures]
        actions = {cap.action: check_capture(cap, body) for cap in caps}
        sheet = contact_sheet(caps)
    report = {"actions": actions, "passed": all(r["passed"] for r in actions.values())}
    with atomic_path(out_sheet) as tmp:
        write_image(tmp, sheet)
    write_json(out_json, report)
    return report
