"""``ntop fit-images``: pseudo-ground-truth SMPL for every annotated person of a COCO keypoint file (EFT's use).

No network and no image pixels: each person's 17 keypoints are moved into a 224 x 224 crop around its
box (scale ``max(w, h) * 1.2 / 200`` as SPIN/EFT define it) and fitted by the monocular objective
through a long-focal pinhole (f = 5000 px, SPIN's convention), all persons in one batch. The
translation ``(tx, ty, tz)`` becomes EFT's weak-perspective camera ``parm_cam = (s, tx, ty)`` with
``s = 2 f / (224 tz)``. Output: ``{"ver": "ntop-0.1", "data": [...]}`` with, per person,
``parm_pose`` (24 rotation matrices, the first global), ``parm_shape`` (10), ``parm_cam`` (3),
``bbox_scale``, ``bbox_center``, ``gt_keypoint_2d`` (the 17 keypoints used, image pixels, with
visibility), ``smpltype``, ``annotId``, ``imageName``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ntop.body import BodyModel
from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.fit.core import FitConfig, View2D
from ntop.fit.monocular import fit_monocular
from ntop.io import write_json

__all__ = ["CROP", "FOCAL", "fit_images", "crop_keypoints"]

CROP = 224
FOCAL = 5000.0


def crop_keypoints(kp: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Image keypoints ``(N, 17, 3)`` and boxes ``(N, 4)`` xywh -> crop pixels ``(N, 17, 2)``, box centres
    ``(N, 2)``, scales ``(N,)``."""
    centre = bbox[:, :2] + bbox[:, 2:] / 2
    scale = np.maximum(bbox[:, 2], bbox[:, 3]) * 1.2 / 200.0
    uv = (kp[..., :2] - centre[:, None]) * (CROP / (scale[:, None, None] * 200.0)) + CROP / 2
    return uv, centre, scale


def _load(path: str | Path) -> tuple[list[dict[str, Any]], dict[int, str]]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise NtopError("COCO file not found", path) from None
    except json.JSONDecodeError as e:
        raise NtopError(f"not valid JSON ({e})", path) from None
    if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
        raise NtopError("a COCO file needs 'images' and 'annotations'", path, "annotations")
    names = {int(im["id"]): str(im.get("file_name", "")) for im in data["images"]}
    anns = []
    for i, ann in enumerate(data["annotations"]):
        kp = ann.get("keypoints")
        if not isinstance(kp, list) or len(kp) != 51:
            raise NtopError("must be a flat list of 51 numbers (17 x, y, v)", path, f"annotations[{i}].keypoints")
        if not isinstance(ann.get("bbox"), list) or len(ann["bbox"]) != 4:
            raise NtopError("must be [x, y, w, h]", path, f"annotations[{i}].bbox")
        if sum(v > 0 for v in kp[2::3]) >= 6:  # fewer labelled joints do not pin a body down
            anns.append(ann)
    return anns, names


def fit_images(coco: str | Path, body: BodyModel, out: str | Path, cfg: FitConfig) -> dict[str, Any]:
    anns, names = _load(coco)
    if not anns:
        raise NtopError("no annotation has six or more labelled keypoints", coco, "annotations")
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, 17, 3)
    bbox = np.array([a["bbox"] for a in anns], dtype=np.float64)
    uv, centre, scale = crop_keypoints(kp, bbox)
    cam = Camera("pinhole", [FOCAL, FOCAL, CROP / 2, CROP / 2], CROP, CROP, name="crop")
    view = View2D(cam, uv, (kp[..., 2] > 0).astype(np.float64))
    # persons are independent: a segment each, so no smoothness couples them. The batch shares one
    # shape: 2D keypoints alone say little about shape, and the monocular prior keeps it near the mean.
    res = fit_monocular(body, view, "coco17", cfg, up=np.array([0.0, -1.0, 0.0]), segments=np.arange(len(anns)))
    rot = Rotation.from_rotvec(
        np.concatenate([res["global_orient"][:, None], res["body_pose"].reshape(-1, 23, 3)], 1).reshape(-1, 3)
    )
    mats = rot.as_matrix().reshape(len(anns), 24, 3, 3)
    tz = res["transl"][:, 2]
    data = []
    for i, ann in enumerate(anns):
        data.append(
            {
                "parm_pose": np.round(mats[i], 6).tolist(),
                "parm_shape": np.round(res["betas"], 6).tolist(),
                "parm_cam": [float(2 * FOCAL / (CROP * tz[i])), float(res["transl"][i, 0]), float(res["transl"][i, 1])],
                "bbox_scale": float(scale[i]),
                "bbox_center": centre[i].tolist(),
                "gt_keypoint_2d": kp[i].tolist(),
                "smpltype": "smpl",
                "annotId": int(ann.get("id", i)),
                "imageName": names.get(int(ann.get("image_id", -1)), ""),
                "fit_error_px": float(res["error_2d_px"][i] * scale[i] * 200.0 / CROP),  # in image pixels
            }
        )
    write_json(out, {"ver": "ntop-0.1", "data": data})
    errs = np.array([d["fit_error_px"] for d in data])
    return {
        "persons": len(data),
        "skipped": int(len(json.loads(Path(coco).read_text())["annotations"]) - len(data)),
        "median_error_px": float(np.median(errs)),
    }
