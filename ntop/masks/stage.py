"""The ``background`` and ``segment`` stages: per-camera background models of a subject's rig, and
per-frame foreground masks of one action (``masks.h5``, compressed) with a preview sheet.

Methods are combined in order: ``provided`` (the dataset's masks), ``bgsub`` (background
subtraction), ``selfie`` (MediaPipe's person segmentation) or ``bgsub`` with ``selfie`` gives the
evidence, and ``smpl_refine`` (optionally last, or alone) reconciles it with the projected SMPL
body. Bodies come from ``fit_smpl``'s file or the capture's own SMPL, camera
poses from ``calibrate``'s file or the capture, exactly as the NeRF will see them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import read_smpl
from ntop.cameras import Camera
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import atomic_path, create_stage, open_stage, read_cameras, require, write_cameras, write_image
from ntop.io.frames import IMAGE_SUFFIXES
from ntop.masks.background import Background, BgsubConfig, model_background, segment_frame
from ntop.masks.prior import posed_vertices, shadowless_faces, silhouettes
from ntop.masks.refine import outline_agreement, refine
from ntop.masks.selfie import SelfieSegmenter, fuse
from ntop.settings import settings_from_dict
from ntop.sheets import draw_mask_outline, grid, label

__all__ = ["MASKS_SCHEMA", "BACKGROUND_SCHEMA", "MasksConfig", "model_backgrounds", "segment", "read_masks", "frame_ious"]

MASKS_SCHEMA = "masks"
BACKGROUND_SCHEMA = "background"
EVIDENCE = (["provided"], ["bgsub"], ["selfie"], ["bgsub", "selfie"], [])  # what may precede smpl_refine


@dataclass
class MasksConfig:
    """``masks:`` in the config. Fractions are of the image's shorter side."""

    method: list[str] = field(default_factory=lambda: ["bgsub", "smpl_refine"])
    background_dir: str | None = None  # empty-background images named <camera>.<png|jpg|...> replace the median
    margin: float = 0.04  # smpl_refine: beyond the silhouette grown by this much is background
    core: float = 0.008  # smpl_refine: inside the silhouette shrunk by this much is person
    grabcut_iterations: int = 3
    exact_prior_agreement: float = 0.92  # smpl_refine: a prior this close to the image's outline is exact (see _camera_masks)
    bgsub: dict[str, Any] = field(default_factory=dict)  # ntop.masks.background.BgsubConfig

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "masks") -> "MasksConfig":
        cfg = settings_from_dict(cls, d, where)
        m = list(cfg.method)
        evidence = m[:-1] if m[-1:] == ["smpl_refine"] else m
        if not m or evidence not in EVIDENCE:
            message = f"must be provided, bgsub, selfie or bgsub + selfie, then smpl_refine if wanted, or smpl_refine alone ({m})"
            raise NtopError(message, where, "method")
        if cfg.core < 0 or cfg.margin < 0:
            raise NtopError("margin and core must not be negative", where)
        cfg.bgsub_config()
        return cfg

    def bgsub_config(self) -> BgsubConfig:
        return settings_from_dict(BgsubConfig, self.bgsub, "masks.bgsub")

    @property
    def uses_background(self) -> bool:
        return "bgsub" in self.method


def _rig(cap: Capture, cameras_path: str | Path | None) -> list[Camera]:
    """The capture's cameras, or the calibrated ones (same names) the fitted bodies live with."""
    if cameras_path is None:
        return cap.cameras
    with open_stage(cameras_path, "calibration") as f:
        cams = read_cameras(require(f, "cameras"))
    if [c.name for c in cams] != [c.name for c in cap.cameras]:
        raise NtopError("calibrated cameras are not the capture's", cameras_path, "cameras")
    return cams


def _bodies(body: BodyModel, cap: Capture, smpl: str | Path | None) -> torch.Tensor:
    seq = read_smpl(smpl or cap.path, cap.action)
    if not np.array_equal(seq.frame_index, cap.frame_index):
        raise NtopError("the bodies' frames are not the capture's", smpl or cap.path, "frame_index")
    return posed_vertices(body, seq)


def _given_background(folder: str | Path, cam: Camera) -> Background:
    files = [p for p in Path(folder).glob(f"{cam.name}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise NtopError(f"no background image for camera {cam.name}", folder, "masks.background_dir")
    img = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
    if img is None or img.shape[:2] != (cam.height, cam.width):
        raise NtopError(f"unreadable, or not {cam.width}x{cam.height}", files[0], "masks.background_dir")
    return Background(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), np.ones((cam.height, cam.width), bool))


def model_backgrounds(
    body: BodyModel,
    captures: list[tuple[Path, Path]],
    out: Path,
    cfg: MasksConfig,
    *,
    smpl: str | Path | None = None,
    cameras_path: str | Path | None = None,
) -> dict[str, Any]:
    """``background.h5`` of one subject's rig: each camera's background from frames sampled across
    every action (where the subject stood still in one, it moved in another), or the given images."""
    bcfg = cfg.bgsub_config()
    opened = [Capture(c, f) for c, f in captures]
    try:
        cams = _rig(opened[0], cameras_path)
        for cap in opened[1:]:
            if [c.name for c in cap.cameras] != [c.name for c in cams]:
                raise NtopError("the subject's actions were filmed with different cameras", cap.path, "cameras")
        total = sum(len(cap.frame_index) for cap in opened)
        picks = [
            np.unique(
                np.linspace(0, len(cap.frame_index) - 1, max(2, round(bcfg.background_frames * len(cap.frame_index) / total)))
                .round()
                .astype(int)
            )
            for cap in opened
        ]
        verts = [None if cfg.background_dir else _bodies(body, cap, smpl)[torch.as_tensor(k)] for cap, k in zip(opened, picks)]
        backgrounds = {}
        for c, cam in enumerate(cams):
            if cfg.background_dir:
                backgrounds[cam.name] = _given_background(cfg.background_dir, cam)
                continue
            frames = np.stack([cap.frame(c, int(k)) for cap, ks in zip(opened, picks) for k in ks])
            priors = np.concatenate([silhouettes(body, v, cam) for v in verts])
            backgrounds[cam.name] = model_background(frames, priors, bcfg)
    finally:
        for cap in opened:
            cap.close()
    inputs = [p for pair in captures for p in pair] + [p for p in (smpl, cameras_path) if p]
    with create_stage(out, BACKGROUND_SCHEMA, 1, params=asdict(cfg), inputs=inputs) as f:
        write_cameras(f.create_group("cameras"), cams)
        for name, bg in backgrounds.items():
            f.create_dataset(f"images/{name}", data=bg.image, compression="gzip")
            f.create_dataset(f"known/{name}", data=bg.known, compression="gzip")
    return {
        "cameras": len(cams),
        "frames_sampled": int(sum(len(k) for k in picks)) if not cfg.background_dir else 0,
        "unknown_fraction": float(np.mean([1 - bg.known.mean() for bg in backgrounds.values()])),
    }


def _read_backgrounds(path: str | Path, cams: list[Camera]) -> dict[str, Background]:
    with open_stage(path, BACKGROUND_SCHEMA) as f:
        return {c.name: Background(require(f, f"images/{c.name}")[()], require(f, f"known/{c.name}")[()]) for c in cams}


def _provided(cap: Capture) -> list[Any]:
    masks = cap.masks()
    if masks is None:
        raise NtopError("method 'provided' but the capture has no masks", cap.path, "masks")
    return masks


def _evidence(
    frame: np.ndarray,
    prior: np.ndarray,
    shadowless: np.ndarray | None,
    provided: np.ndarray | None,
    bg: Background | None,
    selfie: SelfieSegmenter | None,
    cfg: MasksConfig,
    bcfg: BgsubConfig,
) -> np.ndarray | None:
    """What the image says before the prior's refinement (None with smpl_refine alone: GrabCut decides)."""
    evidence = provided if bg is None else segment_frame(frame, bg, bcfg, prior, shadowless)
    if selfie is not None:
        evidence = fuse(selfie.probability(frame, prior, cfg.margin), evidence)
    return evidence


def _prior_is_exact(cameras: int, priors_of: Any, evidence_of: Any, frames: int, cfg: MasksConfig) -> tuple[bool, dict]:
    """Whether the bodies are known to the pixel (a capture's true bodies; fitted ones stay a few pixels
    off): their outline lies within a pixel of the evidence's, as a median over a dozen frames of every
    camera, on at least ``exact_prior_agreement`` of its length. Also returns the evidence it computed,
    by ``(camera, frame)``, for the masks to reuse. ``priors_of(c, frames)`` gives the silhouettes and
    their shadowless parts (None each without ``underfoot_shadows_only``)."""
    if "smpl_refine" not in cfg.method:
        return False, {}
    picks = np.unique(np.linspace(0, frames - 1, min(frames, 12)).round().astype(int))
    agreement, seen = [], {}
    for c in range(cameras):
        for k, prior, shadowless in zip(picks, *priors_of(c, picks)):
            evidence = seen[(c, int(k))] = evidence_of(c, int(k), prior, shadowless)
            if evidence is not None and prior.any():
                agreement.append(outline_agreement(prior, evidence))
    return bool(agreement) and float(np.median(agreement)) >= cfg.exact_prior_agreement, seen


def _camera_masks(
    pool: ThreadPoolExecutor, frame: Any, priors: np.ndarray, evidence: list[np.ndarray | None], cfg: MasksConfig, exact: bool
) -> np.ndarray:
    """One camera's masks: the evidence, refined with the prior when asked (``exact``: see refine)."""
    if "smpl_refine" not in cfg.method and evidence[0] is not None:
        return np.stack(evidence)
    grabcut = lambda t: None if exact and evidence[t] is not None else frame(t)  # noqa: E731 - GrabCut reads the frame again
    work = lambda t: refine(grabcut(t), priors[t], evidence[t], cfg.margin, cfg.core, cfg.grabcut_iterations, exact)  # noqa: E731
    return np.stack(list(pool.map(work, range(len(priors)))))


def segment(
    body: BodyModel,
    capture_path: Path,
    frames_path: Path,
    out: Path,
    cfg: MasksConfig,
    *,
    smpl: str | Path | None = None,
    cameras_path: str | Path | None = None,
    background: str | Path | None = None,
    preview: Path | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Write ``masks.h5`` (``masks/<camera>`` and the SMPL prior ``prior/<camera>``, ``(T, H, W)`` uint8)."""
    if cfg.uses_background and background is None:
        raise NtopError("method bgsub needs the subject's background file (rule background)", field="masks.method")
    bcfg = cfg.bgsub_config()
    cv2.setNumThreads(1)  # parallel over frames instead
    inputs = [capture_path, frames_path] + [p for p in (smpl, cameras_path, background) if p]
    kept: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the preview's frames only: one camera in memory at a time
    fractions, agree = [], []
    with (
        Capture(capture_path, frames_path) as cap,
        create_stage(out, MASKS_SCHEMA, 1, params=asdict(cfg), inputs=inputs, units="pixels") as f,
    ):
        cams = _rig(cap, cameras_path)
        verts = _bodies(body, cap, smpl)
        bgs = _read_backgrounds(background, cams) if cfg.uses_background else {}
        provided = _provided(cap) if "provided" in cfg.method else None
        selfie = SelfieSegmenter() if "selfie" in cfg.method else None
        T = len(cap.frame_index)
        picks = sorted({0, T // 2, T - 1})
        f.attrs.update(subject=cap.subject, action=cap.action, method=",".join(cfg.method))
        f.create_dataset("frame_index", data=cap.frame_index)
        write_cameras(f.create_group("cameras"), cams)

        def evidence_of(c: int, t: int, prior: np.ndarray, shadowless: np.ndarray | None) -> np.ndarray | None:
            given = provided[c][t] > 0 if provided is not None else None
            return _evidence(cap.frame(c, t), prior, shadowless, given, bgs.get(cams[c].name), selfie, cfg, bcfg)

        upper = shadowless_faces(body) if bcfg.underfoot_shadows_only else None

        def priors_of(c: int, frames: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | list[None]]:
            v = verts if frames is None else verts[torch.as_tensor(frames)]
            full = silhouettes(body, v, cams[c])
            return full, silhouettes(body, v, cams[c], faces=upper) if upper is not None else [None] * len(full)

        exact, seen = _prior_is_exact(len(cams), priors_of, evidence_of, T, cfg)
        with ThreadPoolExecutor(max(1, threads)) as pool:
            for c, cam in enumerate(cams):
                priors, shadowless = priors_of(c)
                fresh = lambda t: evidence_of(c, t, priors[t], shadowless[t])  # noqa: E731, B023
                work = lambda t: seen.pop((c, t)) if (c, t) in seen else fresh(t)  # noqa: E731, B023
                evidence = list(pool.map(work, range(T)))
                masks = _camera_masks(pool, lambda t: cap.frame(c, t), priors, evidence, cfg, exact)  # noqa: B023
                for key, data in (("masks", masks), ("prior", priors)):
                    ds = f.create_dataset(
                        f"{key}/{cam.name}",
                        data=data.astype(np.uint8),
                        chunks=(1,) + data.shape[1:],
                        compression="gzip",
                        compression_opts=4,
                    )
                    ds.attrs["meaning"] = "1 where the person is" if key == "masks" else "1 where the projected SMPL body is"
                kept[cam.name] = (masks[picks], priors[picks])
                fractions.append(masks.mean())
                agree.append(frame_ious(masks, priors))
        sheet = _preview(cap, cams, picks, kept, bgs) if preview is not None else None
    if sheet is not None and preview is not None:
        with atomic_path(preview) as tmp:
            write_image(tmp, sheet)
    return {
        "cameras": len(cams),
        "frames": T,
        "method": cfg.method,
        "foreground_fraction": float(np.mean(fractions)),
        "iou_with_smpl": float(np.mean(np.concatenate(agree))),
        "exact_prior": exact,
    }


def frame_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame IoU of ``(T, H, W)`` masks (1 where both are empty)."""
    inter, union = (a & b).sum((1, 2)), (a | b).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def _preview(
    cap: Capture, cams: list[Camera], picks: list[int], kept: dict[str, tuple[np.ndarray, np.ndarray]], bgs: dict[str, Background]
) -> np.ndarray:
    """Per camera: its background (when modelled) and the ``picks`` frames (first, middle, last) with the
    mask tinted and outlined (yellow) and the SMPL prior outlined (red); ``kept`` holds those frames' masks."""
    tiles = []
    for c, cam in enumerate(cams):
        masks, priors = kept[cam.name]
        if cam.name in bgs:
            tiles.append(label(bgs[cam.name].image.copy(), f"{cam.name} background"))
        for k, t in enumerate(picks):
            img = cap.frame(c, t)
            img = np.where(masks[k][..., None], (0.6 * img + 0.4 * np.array([0, 200, 80])).astype(np.uint8), img)
            draw_mask_outline(img, priors[k], (230, 40, 40))
            draw_mask_outline(img, masks[k])
            tiles.append(label(img, f"{cam.name} frame {int(cap.frame_index[t])}"))
    return grid(tiles, len(picks) + (1 if bgs else 0))


def read_masks(path: str | Path, camera: str) -> np.ndarray:
    """``(T, H, W) bool`` masks of one camera from ``masks.h5``."""
    with open_stage(path, MASKS_SCHEMA) as f:
        return require(f, f"masks/{camera}")[()] > 0
