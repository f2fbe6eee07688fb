"""``render_fisheye``: every planned (frame, view) rendered with the subject's NeRF.

Writes ``images/<name>.png|jpg`` (RGB over the chosen background), ``alpha/<name>.png`` and
``render.h5`` (alpha and depth of every view, and each alpha's box and area, for the labels). Work
in progress lives in a hidden sibling folder, one finished frame at a time, so an interrupted run
continues where it stopped; the output folder appears, complete, only at the end.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ntop.body import BodyModel
from ntop.errors import NtopError
from ntop.io import create_stage, write_image
from ntop.nerf.render import posed_frames, render_views
from ntop.nerf.train import load_model
from ntop.settings import resolve_device, settings_from_dict
from ntop.views import PlannedViews, load_views

__all__ = [
    "RENDER_SCHEMA",
    "ALPHA_THRESHOLD",
    "RenderConfig",
    "Backgrounds",
    "alpha_boxes",
    "write_render_stage",
    "render_fisheye",
]

RENDER_SCHEMA = "fisheye_render"
ALPHA_THRESHOLD = 0.5  # a pixel belongs to the person where its alpha exceeds this


@dataclass
class RenderConfig:
    image_format: str = "png"  # png | jpg
    jpeg_quality: int = 95
    background: str = "white"  # white | solid | folder
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)  # solid background, RGB in [0, 1]
    folder: str | None = None  # folder background: images picked at random per image
    seed: int = 0
    samples: int = 64
    device: str = "auto"

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "render") -> "RenderConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.image_format not in ("png", "jpg"):
            raise NtopError("must be png or jpg", where, "image_format")
        if cfg.background not in ("white", "solid", "folder"):
            raise NtopError("must be white, solid or folder", where, "background")
        if cfg.background == "folder" and not cfg.folder:
            raise NtopError("a folder background needs 'folder'", where, "folder")
        return cfg


class Backgrounds:
    """The background of each image, chosen by the image's id so that reruns reproduce it exactly."""

    def __init__(self, cfg: RenderConfig, size: int):
        self.cfg, self.size = cfg, size
        self.files: list[Path] = []
        if cfg.background == "folder":
            folder = Path(cfg.folder or "")
            if not folder.is_dir():
                raise NtopError("background folder not found", folder, "render.folder")
            self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if not self.files:
                raise NtopError("no .png/.jpg images in the background folder", folder, "render.folder")

    def get(self, image_id: int) -> np.ndarray:
        """Background ``(size, size, 3)`` float in [0, 1]."""
        if self.cfg.background == "white":
            return np.ones((self.size, self.size, 3))
        if self.cfg.background == "solid":
            return np.broadcast_to(np.asarray(self.cfg.colour, dtype=np.float64), (self.size, self.size, 3))
        rng = np.random.default_rng([self.cfg.seed, image_id])
        path = self.files[rng.integers(len(self.files))]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise NtopError("unreadable background image", path)
        h, w = img.shape[:2]
        side = min(h, w)
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = cv2.resize(img[y : y + side, x : x + side], (self.size, self.size), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float64) / 255


def _write_image(path: Path, rgb: np.ndarray, cfg: RenderConfig) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if cfg.image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    write_image(tmp, np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8) if rgb.ndim == 3 else rgb, params)
    os.replace(tmp, path)


def alpha_boxes(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes ``(..., 4)`` x0, y0, x1, y1 (pixel edges) around ``alpha > ALPHA_THRESHOLD`` and the
    areas ``(...)`` in pixels; empty masks give zeros."""
    lead, (H, W) = alpha.shape[:-2], alpha.shape[-2:]
    m = alpha.reshape(-1, H, W) > ALPHA_THRESHOLD
    cols, rows = m.any(1), m.any(2)
    box = np.stack([cols.argmax(1), rows.argmax(1), W - cols[:, ::-1].argmax(1), H - rows[:, ::-1].argmax(1)], 1) - 0.5
    box = np.where(cols.any(1)[:, None], box, 0.0)
    return box.reshape(lead + (4,)), m.sum((1, 2)).reshape(lead)


def write_render_stage(
    path: Path,
    pv: PlannedViews,
    alpha: np.ndarray,
    depth: np.ndarray,
    image_format: str,
    params: dict[str, Any],
    inputs: list[str | Path],
) -> None:
    """``render.h5``: alpha and depth ``(F, V, H, W)`` of every view with the boxes and areas the labels use."""
    box, area = alpha_boxes(alpha)
    with create_stage(path, RENDER_SCHEMA, 2, params=params, inputs=inputs) as h5:
        h5.attrs.update(subject=pv.subject, action=pv.action, image_format=image_format)
        h5.create_dataset("alpha", data=alpha, chunks=(1, 1, pv.size, pv.size), compression="gzip")
        h5.create_dataset("depth", data=depth, chunks=(1, 1, pv.size, pv.size), compression="gzip")
        h5.create_dataset("box", data=box).attrs["meaning"] = (
            f"x0, y0, x1, y1 (pixel edges) of alpha > {ALPHA_THRESHOLD}; zeros where none"
        )
        h5.create_dataset("area", data=area).attrs["meaning"] = f"pixels with alpha > {ALPHA_THRESHOLD}"
        h5.create_dataset("ids", data=pv.ids)
        h5.create_dataset("names", data=pv.names.astype("S"))


def render_fisheye(
    model_path: str | Path, views_path: str | Path, body: BodyModel, out: str | Path, cfg: RenderConfig
) -> dict[str, Any]:
    """Render every view of ``views.h5`` into ``out`` (a folder); resumes a previous partial run."""
    device = resolve_device(cfg.device, "render.device")
    field, meta = load_model(model_path, device)
    pv = load_views(views_path)
    if not np.allclose(meta["betas"].numpy(), pv.smpl["betas"], atol=1e-4):
        raise NtopError("the body shape (betas) differs from the one the NeRF was trained with", views_path, "smpl/betas")
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    for sub in ("images", "alpha", "frames"):
        (partial / sub).mkdir(parents=True, exist_ok=True)
    s = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pv.smpl.items()}
    bodies = posed_frames(body, s["betas"][None], s["global_orient"], s["body_pose"], s["transl"], offsets=s.get("offsets"))
    posed = bodies.to(device)
    backgrounds = Backgrounds(cfg, pv.size)
    F, V = pv.shape
    resumed = 0
    for f in range(F):
        done = partial / "frames" / f"{f:06d}.npz"
        if done.exists():
            resumed += 1
            continue
        cams = [pv.camera(f, v) for v in range(V)]
        rgb, alpha, depth = render_views(field, posed, f, cams, background=(0.0, 0.0, 0.0), samples=cfg.samples)
        for v in range(V):
            name = pv.names[f, v]
            composite = rgb[v] + (1 - alpha[v, ..., None]) * backgrounds.get(int(pv.ids[f, v]))
            _write_image(partial / "images" / f"{name}.{cfg.image_format}", composite, cfg)
            _write_image(partial / "alpha" / f"{name}.png", np.clip(np.rint(alpha[v] * 255), 0, 255).astype(np.uint8), cfg)
        tmp = done.with_name(f".{done.stem}.tmp.npz")
        np.savez_compressed(tmp, alpha=alpha.astype(np.float16), depth=depth.astype(np.float16))
        os.replace(tmp, done)  # the frame counts as finished only now
    stacks = [np.load(partial / "frames" / f"{f:06d}.npz") for f in range(F)]
    write_render_stage(
        partial / "render.h5",
        pv,
        np.stack([z["alpha"] for z in stacks]),
        np.stack([z["depth"] for z in stacks]),
        cfg.image_format,
        {**cfg.__dict__, "colour": list(cfg.colour)},
        [model_path, views_path],
    )
    shutil.rmtree(partial / "frames")
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    return {"frames": F, "views": V, "images": F * V, "frames_resumed": resumed}
