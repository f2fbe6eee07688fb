"""``ntop qa labels``: do the labels match the pixels, checked by independent means?

- keypoints against a second projection written apart from ``ntop.cameras`` for every lens model
  (OpenCV where it has the model, the published formulas otherwise: ``ntop.qa.reference_projection``);
- the rendered alpha against the rasterized silhouette of the label body (IoU; catches drift of the
  rendered body away from the SMPL body that made the labels);
- visibility codes against an exact ray-mesh intersection test per joint;
- every COCO file through pycocotools, and COCOeval of the ground truth against itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ntop.body import BodyModel
from ntop.fisheye import ALPHA_THRESHOLD, RENDER_SCHEMA
from ntop.io import open_stage, write_json
from ntop.qa.reference_projection import REFERENCES, reference_project
from ntop.qa.verdict import not_run, overall
from ntop.raster import rasterize
from ntop.views import PlannedViews, load_views
from ntop.visibility import depth_margins

__all__ = ["check_labels", "body_depth", "ray_mesh_first_hit", "coco_self_ap"]

REPROJ_MAX_PX = 0.5
IOU_MIN = 0.95
VIS_AGREE_MIN = 0.99


def body_depth(body: BodyModel, vertices: torch.Tensor, pv: PlannedViews, f: int) -> np.ndarray:
    """Ray distance to the SMPL body ``(V, H, W)`` in every view of frame ``f`` (``inf`` = none)."""
    V = pv.shape[1]
    cams = [pv.camera(f, v) for v in range(V)]
    verts_cam = torch.stack([c.world_to_camera(vertices.double()) for c in cams]).float()
    K = torch.as_tensor(np.stack([c.K for c in cams]), dtype=torch.float32)
    dist = torch.as_tensor(np.stack([c.dist for c in cams]), dtype=torch.float32).reshape(V, -1)
    frags = rasterize(verts_cam, body.faces, pv.model, K, dist, pv.size, pv.size, pv.fov_deg)
    return frags.depth.numpy()


def ray_mesh_first_hit(origin: np.ndarray, dirs: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Distance along each unit ray ``(N, 3)`` from ``origin`` to the first triangle ``(T, 3, 3)`` hit (Moller-Trumbore)."""
    v0, e1, e2 = tris[:, 0], tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    out = np.full(len(dirs), np.inf)
    for i, d in enumerate(dirs):
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
        s = origin - v0
        u = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, e1)
        v = (q @ d) * inv
        t = np.einsum("ij,ij->i", e2, q) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if hit.any():
            out[i] = t[hit].min()
    return out


def coco_self_ap(path: str | Path) -> float:
    """AP of the file's annotations scored against themselves (1.0 for consistent labels)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        anns = gt.loadAnns(gt.getAnnIds())
        if not anns:
            return float("nan")
        dets = gt.loadRes(
            [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns]
        )
        ev = COCOeval(gt, dets, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _reference_check(model: str, errors: np.ndarray) -> dict[str, Any]:
    """Keypoints against the lens's independent reference projection (``errors`` in pixels)."""
    if model not in REFERENCES:
        return not_run(f"no independent reference projection for lens {model!r}: add one to ntop.qa.reference_projection")
    reference = REFERENCES[model][1]
    if not errors.size:
        return not_run("no keypoint is labelled in any image", reference=reference)
    return {
        "reference": reference,
        "max_px": float(errors.max()),
        "mean_px": float(errors.mean()),
        "keypoints": int(errors.size),
        "passed": bool(errors.max() <= REPROJ_MAX_PX),
    }


def check_labels(
    views: PlannedViews | str | Path, render_dir: str | Path, labels_dir: str | Path, body: BodyModel, raycast_views: int = 12
) -> dict[str, Any]:
    pv = views if isinstance(views, PlannedViews) else load_views(views)
    coco = json.loads((Path(labels_dir) / "coco.json").read_text())
    anns = {a["image_id"]: a for a in coco["annotations"]}
    with open_stage(Path(render_dir) / "render.h5", RENDER_SCHEMA) as f:
        alpha = f["alpha"][()].astype(np.float32)
    with torch.no_grad():
        out = body.pose(pv.smpl)
        coco_world = body.joint_set(out, "coco17").double().numpy()
        margins = depth_margins(body, ["coco17"], pv.smpl["betas"], pv.smpl.get("offsets"))
    faces = body.faces.numpy()
    F, V = pv.shape
    errors, ious, agree, checked = [], [], 0, 0
    rng = np.random.default_rng(0)
    ray_views = {(int(f), int(v)) for f, v in zip(rng.integers(0, F, raycast_views), rng.integers(0, V, raycast_views))}
    for f in range(F):
        sil = np.isfinite(body_depth(body, out.vertices[f], pv, f))
        verts = out.vertices[f].double().numpy()
        for v in range(V):
            a = alpha[f, v] > ALPHA_THRESHOLD
            union = (a | sil[v]).sum()
            ious.append((a & sil[v]).sum() / union if union else 1.0)
            ann = anns.get(int(pv.ids[f, v]))
            if ann is None:
                continue
            kps = np.asarray(ann["keypoints"]).reshape(17, 3)
            labelled = kps[:, 2] > 0
            cam = pv.camera(f, v)
            pc = cam.world_to_camera(coco_world[f])
            if pv.model in REFERENCES:
                ref = reference_project(cam.model, pc[labelled], cam.K, cam.dist)
                errors.append(np.linalg.norm(ref - kps[labelled, :2], axis=1))
            if (f, v) in ray_views and labelled.any():
                dirs = pc / np.linalg.norm(pc, axis=1, keepdims=True)
                hit = ray_mesh_first_hit(np.zeros(3), dirs[labelled], cam.world_to_camera(verts)[faces])
                raycast = np.where(hit < np.linalg.norm(pc[labelled], axis=1) - margins[labelled], 1, 2)
                agree += int((raycast == kps[labelled, 2]).sum())
                checked += int(labelled.sum())
    e = np.concatenate(errors) if errors else np.zeros(0)
    ious_a = np.asarray(ious)
    report: dict[str, Any] = {"images": F * V, "annotations": len(anns), "checks": {}}
    report["checks"]["keypoints_vs_reference_projection"] = _reference_check(pv.model, e)
    report["checks"]["alpha_vs_label_silhouette"] = {
        "mean_iou": float(ious_a.mean()),
        "p05_iou": float(np.percentile(ious_a, 5)),
        "min_iou": float(ious_a.min()),
        "passed": bool(ious_a.mean() >= IOU_MIN),
    }
    report["checks"]["visibility_vs_raycast"] = (
        {"agreement": agree / checked, "joints": checked, "passed": bool(agree / checked >= VIS_AGREE_MIN)}
        if checked
        else not_run("no labelled joint in the views sampled for ray casting")
    )
    aps = {}
    for name in ("coco.json",):
        aps[name] = coco_self_ap(Path(labels_dir) / name)
    scored = {name: ap for name, ap in aps.items() if not math.isnan(ap)}  # NaN: a file without annotations
    report["checks"]["cocoeval_self_ap"] = (
        {"ap": aps, "passed": all(ap == 1.0 for ap in scored.values())} if scored else not_run("no annotation to score", ap=aps)
    )
    report["passed"] = overall(report["checks"].values())
    return report


def run(items: list[tuple[str | Path, str | Path, str | Path]], body: BodyModel, out_json: str | Path) -> dict[str, Any]:
    """One subject's report (``actions`` -> each action's checks) from its (views.h5, render folder,
    labels folder) triples."""
    actions = {}
    for views, render, labels in items:
        pv = load_views(views)
        actions[pv.action] = check_labels(pv, render, labels, body)
    report = {"actions": actions, "passed": all(r["passed"] for r in actions.values())}
    write_json(out_json, report)
    return report
