"""``eval_nerf``: the avatar on cameras it never saw, against the real frames.

PSNR and SSIM over the full image and over the body's box (the mask's bounding box grown by 8 px),
PSNR over the body's own pixels,
with both images on black outside the body (the rendering composited on black, the frame multiplied
by its mask), as HumanNeRF's protocol does. Mean-colour baselines are reported beside them (a constant
image of the box's mean colour; the body's mean colour on the body's pixels), and a side-by-side sheet
of the body's box (frame | rendering | error x4) is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ntop.io import atomic_path, write_image, write_json
from ntop.nerf.field import CanonicalField
from ntop.nerf.prepare import NerfDataset, load_dataset
from ntop.nerf.render import render_image
from ntop.sheets import grid, label

__all__ = ["box_of", "image_metrics", "heldout_metrics", "evaluate"]


def box_of(mask: np.ndarray, grow: int = 8) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    H, W = mask.shape
    return slice(max(ys.min() - grow, 0), min(ys.max() + grow + 1, H)), slice(
        max(xs.min() - grow, 0), min(xs.max() + grow + 1, W)
    )


def image_metrics(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Full-image and body-box PSNR/SSIM of float images in [0, 1] (both black off the body)."""
    ys, xs = box_of(mask)
    out = {}
    for name, (p, t) in {"full": (pred, truth), "box": (pred[ys, xs], truth[ys, xs])}.items():
        out[f"psnr_{name}"] = float(peak_signal_noise_ratio(t, p, data_range=1.0))
        out[f"ssim_{name}"] = float(structural_similarity(t, p, channel_axis=-1, data_range=1.0))
    out["psnr_body"] = float(peak_signal_noise_ratio(truth[mask], pred[mask], data_range=1.0))  # the body's pixels only
    # mean-colour baselines: a constant image (the box's mean colour), and the body's mean colour on its pixels
    box = truth[ys, xs]
    out["baseline_psnr_box"] = float(peak_signal_noise_ratio(box, np.broadcast_to(box.mean((0, 1)), box.shape), data_range=1.0))
    body = truth[mask]
    out["baseline_psnr_body"] = float(peak_signal_noise_ratio(body, np.broadcast_to(body.mean(0), body.shape), data_range=1.0))
    return out


def _render_pair(
    field: CanonicalField, ds: NerfDataset, cam: str, t: int, samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mask = ds.masks[cam][t]
    truth = ds.images[cam][t].astype(np.float64) / 255 * mask[..., None]
    rgb, _, _ = render_image(field, ds.posed, t, ds.cameras[cam], background=(0.0, 0.0, 0.0), samples=samples)
    return rgb.astype(np.float64), truth, mask


def heldout_metrics(
    field: CanonicalField, ds: NerfDataset, frames: list[int] | None = None, samples: int = 64
) -> dict[str, float]:
    """Mean held-out metrics over the held-out cameras at the given frames (default: the middle one);
    nothing when no camera is held out (a monocular capture)."""
    if not ds.heldout_cameras:
        return {}
    frames = frames if frames is not None else [ds.num_frames // 2]
    rows = [image_metrics(*_render_pair(field, ds, cam, t, samples)) for cam in ds.heldout_cameras for t in frames]
    return {f"heldout_{k}": round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}


def evaluate(
    dataset: str | Path,
    field: CanonicalField,
    out_json: str | Path,
    out_sheet: str | Path,
    frame_stride: int = 8,
    samples: int = 64,
) -> dict[str, Any]:
    ds = load_dataset(dataset)
    frames = list(range(0, ds.num_frames, frame_stride))
    per_image, tiles = [], []
    cams = ds.heldout_cameras or ds.train_cameras  # one camera: how well it fits the view it learned from
    for cam in cams:
        for i, t in enumerate(frames):
            pred, truth, mask = _render_pair(field, ds, cam, t, samples)
            m = image_metrics(pred, truth, mask)
            per_image.append({"camera": cam, "frame": int(ds.frame_index[t]), "action": ds.actions[t], **m})
            if i < 3:
                ys, xs = box_of(mask, grow=24)  # the body fills its tile (in a whole frame it is a third of the height)
                err = np.clip(np.abs(pred - truth) * 4, 0, 1)
                for img, text in (
                    (truth, f"{cam} f{ds.frame_index[t]} frame"),
                    (pred, f"render {m['psnr_box']:.1f} dB"),
                    (err, "error x4"),
                ):
                    tiles.append(label((img[ys, xs] * 255).astype(np.uint8).copy(), text))
    keys = [k for k in per_image[0] if k not in ("camera", "frame", "action")]
    summary = {k: float(np.mean([r[k] for r in per_image])) for k in keys}
    report = {"subject": ds.subject, "heldout_cameras": ds.heldout_cameras, "evaluated_cameras": cams}
    report.update(on_training_cameras=not ds.heldout_cameras, frames=len(frames), mean=summary, images=per_image)
    with atomic_path(out_sheet) as tmp:
        write_image(tmp, grid(tiles, cols=3))
    write_json(out_json, report)
    return report
