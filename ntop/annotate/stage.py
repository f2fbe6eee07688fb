"""``annotate``: the label files of one subject/action, from its views, renders and SMPL bodies."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch

from ntop.annotate.formats import ImageMeta, coco_files, hybrik_files, mppe_file
from ntop.annotate.labels import compute_labels
from ntop.body import BodyModel
from ntop.errors import NtopError
from ntop.fisheye import RENDER_SCHEMA
from ntop.io import atomic_path, open_stage, provenance_record, require
from ntop.views import load_views

__all__ = ["annotate", "LABEL_FILES", "UNKNOWN_LICENCE"]

UNKNOWN_LICENCE = {"name": "see the source capture's licence", "url": ""}  # when a config names none
LABEL_FILES = ("coco.json", "bboxes.json", "hybrik_h36m.json", "hybrik_pw3d.json", "3dmppe.json")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the label dicts are built: they hold no cycles, and the
    collector's passes over millions of fresh containers made building superlinear in their number."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write(path: Path, obj: Any) -> None:
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def annotate(
    views_path: str | Path,
    render_dir: str | Path,
    body: BodyModel,
    out: str | Path,
    codes: tuple[int, int, int],
    licence: dict[str, str],
    *,
    bbox_margin: float = 0.05,
    body_path: str | Path | None = None,
) -> dict[str, Any]:
    pv = load_views(views_path)
    with open_stage(Path(render_dir) / "render.h5", RENDER_SCHEMA, min_version=2) as f:
        box, area, ids = (require(f, k)[()] for k in ("box", "area", "ids"))
        image_format = str(f.attrs["image_format"])
    if not np.array_equal(ids, pv.ids):
        raise NtopError("the renders belong to other views (ids differ)", Path(render_dir) / "render.h5", "ids")
    sets = [s for s in ("coco17", "smpl24", "hybrik29", "h36m17") if s in body.available_joint_sets()]
    labels = compute_labels(body, pv, box, area, sets, bbox_margin)
    if not all(
        np.isfinite(x).all() for x in (*labels.joints_cam.values(), labels.global_orient_cam, labels.body_pose, labels.betas)
    ):
        raise NtopError("the bodies or cameras give non-finite joints", views_path, "smpl")
    with torch.no_grad():
        betas = torch.as_tensor(pv.smpl["betas"], dtype=torch.float32)[None]
        rest29 = body.joint_set(body(torch.zeros(1, 3), torch.zeros(1, 69), betas), "hybrik29")[0].double().numpy()
    meta = ImageMeta(pv, image_format, codes[1], codes[2], licence)
    has_h36m = "h36m17" in sets
    record = provenance_record(
        "labels",
        {"codes": list(codes), "licence": licence, "bbox_margin": bbox_margin},
        [views_path, Path(render_dir) / "render.h5"] + ([body_path] if body_path else []),
    )
    with atomic_path(out) as tmp, _gc_paused():
        tmp.mkdir()
        coco, boxes = coco_files(meta, labels)
        _write(tmp / "coco.json", coco)
        _write(tmp / "bboxes.json", boxes)
        h36m, pw3d = hybrik_files(meta, labels, rest29, has_h36m)
        _write(tmp / "hybrik_h36m.json", h36m)
        _write(tmp / "hybrik_pw3d.json", pw3d)
        if has_h36m:
            _write(tmp / "3dmppe.json", mppe_file(meta, labels))
        (tmp / "provenance.json").write_text(json.dumps(record, indent=1))
    vis = labels.vis["coco17"]
    return {
        "images": int(vis.shape[0] * vis.shape[1]),
        "annotations": len(coco["annotations"]),
        "visibility": {str(k): int((vis == k).sum()) for k in (0, 1, 2)},
    }
