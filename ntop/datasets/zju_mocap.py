"""ZJU-MoCap in Neural Body's layout (``CoreView_<id>/`` or the refined ``my_<id>/``).

One subject folder (``raw:`` in the config points here)::

    annots.npy          a pickled dict: cams = {K: [C x 3x3], D: [C x 5x1], R: [C x 3x3], T: [C x 3x1] mm},
                        ims = [{ims: [image path per camera]} per frame], paths relative to this folder
    <camera folder>/... the images (``Camera_B1/000000.jpg``; 313 and 315: ``Camera (1)/CoreView_313_Camera_(1)_0001_...jpg``)
    mask/..., mask_cihp/...    the dataset's masks at the image's path with ``.png``; their union is used
    new_params/<i>.npy  (or params/) EasyMocap SMPL per frame: Rh (1,3), Th (1,3) metres, poses (1,72), shapes (1,10)

SMPL files are numbered by frame, except for 313 and 315, whose number is the one in the image name.
Settings (``adapter:``): ``cameras`` (indices to keep, default all), ``fps`` (not in the files; 50),
``params_dir`` (default ``new_params`` if present, else ``params``), ``mask_dirs`` (default both).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ntop.body.convert import from_rh_th
from ntop.cameras import Camera
from ntop.datasets.canonical import AdapterContext, RawCapture, as_array, load_npy_dict, pinhole_camera
from ntop.errors import NtopError
from ntop.io import read_image, read_image_files

__all__ = ["open_zju_mocap", "camera_name"]

_NUMBERED = re.compile(r"\)_(\d+)_")  # CoreView_313_Camera_(1)_0001_2019-...jpg -> 1


def camera_name(folder: str) -> str:
    """A name safe in files and HDF5 paths: ``Camera (1)`` -> ``Camera_1``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", folder).strip("_")


def _cameras(annots: dict[str, Any], frame0: list[str], root: Path, keep: list[int]) -> list[Camera]:
    path = root / "annots.npy"
    cams = annots["cams"]
    for key in ("K", "D", "R", "T"):
        if key not in cams or len(cams[key]) != len(frame0):
            raise NtopError(f"missing, or not one entry per camera ({len(frame0)})", path, f"cams/{key}")
    out = []
    for c in keep:
        h, w = read_image(root / frame0[c]).shape[:2]
        K, D, R, T = (
            as_array(cams[k][c], shape, path, f"cams/{k}")
            for k, shape in (("K", (3, 3)), ("D", (-1,)), ("R", (3, 3)), ("T", (3,)))
        )
        out.append(pinhole_camera(camera_name(Path(frame0[c]).parent.as_posix()), K, D, R, T / 1000.0, w, h, path))
    return out


def _smpl(root: Path, params_dir: str, numbers: list[int], context: AdapterContext) -> dict[str, np.ndarray]:
    rows = []
    for n in numbers:
        path = root / params_dir / f"{n}.npy"
        d = load_npy_dict(path, ("Rh", "Th", "poses", "shapes"))
        rows.append(
            [as_array(d[k], shape, path, k) for k, shape in (("Rh", (3,)), ("Th", (3,)), ("poses", (72,)), ("shapes", (10,)))]
        )
    Rh, Th, poses, shapes = (np.stack(col) for col in zip(*rows))
    smpl = from_rh_th(context.require_body("zju_mocap"), Rh, Th, poses, shapes.mean(0))
    return {f"smpl/{k}": v for k, v in smpl.items()}


def open_zju_mocap(raw_dir: str | Path, subject: str, action: str, context: AdapterContext | None = None) -> RawCapture:
    root = Path(raw_dir)
    context = context or AdapterContext()
    annots = load_npy_dict(root / "annots.npy", ("cams", "ims"))
    try:
        ims = [list(item["ims"]) for item in annots["ims"]]
    except (TypeError, KeyError):
        raise NtopError("must be a list of {ims: [path per camera]}", root / "annots.npy", "ims") from None
    if not ims:
        raise NtopError("lists no frames", root / "annots.npy", "ims")
    keep = [int(c) for c in context.settings.get("cameras", range(len(ims[0])))]
    if any(not 0 <= c < len(ims[0]) for c in keep):
        raise NtopError(f"camera indices {keep} outside 0..{len(ims[0]) - 1}", root / "annots.npy", "adapter.cameras")
    cams = _cameras(annots, ims[0], root, keep)
    numbers = []
    for i, frame in enumerate(ims):
        m = _NUMBERED.search(Path(frame[0]).name)
        numbers.append(int(m.group(1)) if m else i)
    params_dir = context.settings.get("params_dir", "new_params" if (root / "new_params").is_dir() else "params")
    mask_dirs = [d for d in context.settings.get("mask_dirs", ["mask", "mask_cihp"]) if (root / d).is_dir()]
    if not mask_dirs:
        raise NtopError("no mask folder", root, "mask")

    def read(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, rgb)
        return read_image_files([root / f[keep[camera]] for f in ims], indices, root / "annots.npy")

    def read_masks(camera: int, indices: np.ndarray):  # noqa: ANN202 - a generator of (index, mask)
        for i in indices:
            rel = Path(ims[i][keep[camera]]).with_suffix(".png")
            yield i, np.any([read_image(root / d / rel, grey=True) > 0 for d in mask_dirs], axis=0).astype(np.uint8)

    return RawCapture(
        subject=subject,
        action=action,
        source="zju_mocap",
        fps=float(context.settings.get("fps", 50.0)),
        num_frames=len(ims),
        cameras=cams,
        read=read,
        read_masks=read_masks,
        inputs=[str(root)],
        annotations=_smpl(root, params_dir, numbers, context),
    )
