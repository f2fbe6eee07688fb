"""GeneBody, one subject folder (``raw:`` points at ``.../genebody/<subject>``)::

    annots.npy              a pickled dict: cams = {<view>: {K (3x3), D (distortion), c2w (4x4, metres)}}
    image/<view>/<frame>.jpg    views ``00`` .. ``47`` (some subjects miss a few)
    mask/<view>/mask<frame>.png
    param/<frame>.npy       {smplx: {global_orient (1,3), body_pose (1,63), keypoints3d (1,J,3), ...}, smplx_scale}

SMPL-X is not SMPL: the pose of the root and the 21 body joints carries across, the shape does not,
so ``betas`` and the translation are fitted to SMPL-X's body joints (``ntop.body.convert``) and the
mean joint error is kept (``smplx_joint_error_m``). ``keypoints3d`` are taken to be the body model's
output before ``smplx_scale`` (as GeneBody's mesh is the model's times the scale); set
``keypoints3d_scaled: true`` if yours already include it. Settings (``adapter:``): ``cameras``
(views to keep, default all), ``fps`` (15), ``smpl`` (``convert``, or ``none`` to fit instead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ntop.body.convert import from_smplx_joints
from ntop.datasets.canonical import AdapterContext, RawCapture, as_array, load_npy_dict, pinhole_camera
from ntop.errors import NtopError
from ntop.io import read_image, read_image_files

__all__ = ["open_genebody"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _smpl(
    root: Path, stems: list[str], settings: dict, context: AdapterContext
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    orient, pose, joints = [], [], []
    for stem in stems:
        path = root / "param" / f"{stem}.npy"
        d = load_npy_dict(path, ("smplx", "smplx_scale"))
        x = d["smplx"]
        for key in ("global_orient", "body_pose", "keypoints3d"):
            if key not in x:
                raise NtopError("missing", path, f"smplx/{key}")
        scale = 1.0 if settings.get("keypoints3d_scaled", False) else float(np.asarray(d["smplx_scale"]).reshape(-1)[0])
        orient.append(np.asarray(x["global_orient"], np.float64).reshape(3))
        pose.append(np.asarray(x["body_pose"], np.float64).reshape(-1)[:63])
        joints.append(np.asarray(x["keypoints3d"], np.float64).reshape(-1, 3) * scale)
    if min(len(j) for j in joints) < 22:
        raise NtopError("needs at least the 22 body joints", root / "param", "smplx/keypoints3d")
    params, err = from_smplx_joints(
        context.require_body("genebody"), np.stack(orient), np.stack(pose), np.stack([j[:22] for j in joints])
    )
    return {f"smpl/{k}": v for k, v in params.items()}, {"smplx_joint_error_m": err}


def open_genebody(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    root = Path(raw_dir)
    context = context or AdapterContext()
    settings = context.settings
    annots_path = root / "annots.npy"
    cams_d = load_npy_dict(annots_path, ("cams",))["cams"]
    if not (root / "image").is_dir():
        raise NtopError("missing", root / "image")
    views = [str(v) for v in settings.get("cameras", sorted(v for v in cams_d if (root / "image" / v).is_dir()))]
    if not views:
        raise NtopError("no view has both an image folder and a camera", annots_path, "cams")
    for v in views:
        if v not in cams_d:
            raise NtopError("missing", annots_path, f"cams/{v}")
    stems = sorted(p.stem for p in (root / "image" / views[0]).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not stems:
        raise NtopError("no images", root / "image" / views[0])
    suffix = next(p.suffix for p in (root / "image" / views[0]).iterdir() if p.stem == stems[0])
    cams = []
    for v in views:
        h, w = read_image(root / "image" / v / f"{stems[0]}{suffix}").shape[:2]
        entry = cams_d[v]
        w2c = np.linalg.inv(as_array(entry.get("c2w"), (4, 4), annots_path, f"cams/{v}/c2w"))
        D = as_array(entry["D"], (-1,), annots_path, f"cams/{v}/D") if "D" in entry else np.zeros(5)
        cams.append(
            pinhole_camera(
                v, as_array(entry.get("K"), (3, 3), annots_path, f"cams/{v}/K"), D, w2c[:3, :3], w2c[:3, 3], w, h, annots_path
            )
        )
    annotations, notes = _smpl(root, stems, settings, context) if settings.get("smpl", "convert") == "convert" else ({}, {})

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_image_files(
            [root / "image" / views[camera] / f"{s}{suffix}" for s in stems], indices, root / "image" / views[camera]
        )

    def read_masks(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, mask)
        for i in indices:
            yield i, (read_image(root / "mask" / views[camera] / f"mask{stems[i]}.png", grey=True) > 127).astype(np.uint8)

    return RawCapture(
        subject=subject,
        action=action,
        source="genebody",
        fps=float(settings.get("fps", 15.0)),
        num_frames=len(stems),
        cameras=cams,
        read=read,
        read_masks=read_masks,
        inputs=[str(root)],
        annotations=annotations,
        notes=notes,
    )
