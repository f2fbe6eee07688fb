"""``prepare_nerf``: one subject's training set in one file, with everything training precomputes.

Reads the canonical captures of the subject's training actions and writes ``dataset.h5``: the
images and masks of the training and held-out cameras, the per-frame SMPL parameters, and per frame
the canonical -> posed joint transforms and the skinning-weight/distance volumes (``ntop.nerf.deform``),
plus the canonical big-pose body (vertices and faces) and its box.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import read_smpl
from ntop.cameras import Camera
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, read_cameras, require, write_cameras
from ntop.masks import MASKS_SCHEMA
from ntop.nerf.deform import PoseVolumes, big_pose, canonical_transforms
from ntop.nerf.render import PosedFrames, posed_frames

__all__ = ["DATASET_SCHEMA", "PrepareConfig", "prepare", "NerfDataset", "load_dataset"]

DATASET_SCHEMA = "nerf_dataset"


@dataclass
class PrepareConfig:
    heldout_cameras: list[str]
    train_cameras: list[str] | None = None  # None: every camera not held out
    frame_stride: int = 1
    volume_resolution: int = 32
    canonical_padding: float = 0.1  # metres around the big-pose body


@dataclass
class _Frames:
    """A subject's training frames gathered across its actions, per camera, with their bodies."""

    cameras: list[Camera]
    betas: np.ndarray
    offsets: np.ndarray | None = None
    images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    masks: dict[str, list[np.ndarray]] = field(default_factory=dict)
    params: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"global_orient": [], "body_pose": [], "transl": []})
    actions: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)


def _check_cameras(frames: _Frames | None, cap: Capture, cfg: PrepareConfig) -> None:
    names = [c.name for c in cap.cameras]
    if frames is None:
        for cam in cfg.heldout_cameras + (cfg.train_cameras or []):
            if cam not in names:
                raise NtopError(f"camera {cam!r} is not in the capture ({', '.join(names)})", cap.path, "nerf.cameras")
    elif names != [c.name for c in frames.cameras]:
        raise NtopError("the subject's actions were filmed with different cameras", cap.path, "cameras")


def _gather(captures: list[tuple[Path, Path, Path]], cfg: PrepareConfig, smpl: Path | None) -> _Frames:
    """Every ``frame_stride``-th frame of each action: images, masks and SMPL parameters."""
    frames: _Frames | None = None
    for cap_path, frames_path, masks_path in captures:
        with Capture(cap_path, frames_path) as cap:
            bodies = read_smpl(smpl or cap_path, cap.action)
            if not np.array_equal(bodies.frame_index, cap.frame_index):
                raise NtopError("the bodies' frames are not the capture's", smpl or cap_path, "frame_index")
            _check_cameras(frames, cap, cfg)
            if frames is not None and not np.allclose(bodies.betas, frames.betas):
                raise NtopError("betas differ between actions of one subject", cap_path, "gt/smpl/betas")
            frames = frames or _Frames(cap.cameras, bodies.betas, bodies.offsets)
            keep = np.arange(0, len(cap.frame_index), cfg.frame_stride)
            with open_stage(masks_path, MASKS_SCHEMA) as mf:
                if not np.array_equal(require(mf, "frame_index")[()], cap.frame_index):
                    raise NtopError("the masks' frames are not the capture's", masks_path, "frame_index")
                for c, cam in enumerate(cap.cameras):
                    frames.images.setdefault(cam.name, []).extend(cap.frame(c, int(k)) for k in keep)
                    frames.masks.setdefault(cam.name, []).append(require(mf, f"masks/{cam.name}")[()][keep])
            for key in frames.params:
                frames.params[key].append(getattr(bodies, key)[keep])
            frames.actions += [cap.action] * len(keep)
            frames.index += cap.frame_index[keep].tolist()
    if frames is None:
        raise NtopError("no training action", field="nerf.train_actions")
    return frames


def _calibrated(cameras: list[Camera], cameras_path: Path | None) -> list[Camera]:
    if cameras_path is None:
        return cameras
    with open_stage(cameras_path, "calibration") as f:
        calibrated = read_cameras(require(f, "cameras"))
    if [c.name for c in calibrated] != [c.name for c in cameras]:
        raise NtopError("calibrated cameras are not the capture's", cameras_path, "cameras")
    return calibrated


def prepare(
    body: BodyModel,
    captures: list[tuple[Path, Path, Path]],
    out: Path,
    cfg: PrepareConfig,
    subject: str,
    smpl: Path | None = None,
    cameras_path: Path | None = None,
) -> dict[str, Any]:
    """Write ``dataset.h5`` from ``(capture.h5, frames.h5, masks.h5)`` of one subject's actions; returns a summary.
    Bodies come from ``smpl`` (``fit_smpl``'s output) when given, else from the captures' ground truth;
    camera poses from ``cameras_path`` (``calibrate``'s output) when given, else from the captures."""
    frames = _gather(captures, cfg, smpl)
    cameras = _calibrated(frames.cameras, cameras_path)
    params = {k: torch.as_tensor(np.concatenate(v), dtype=torch.float32) for k, v in frames.params.items()}
    betas_t = torch.as_tensor(frames.betas, dtype=torch.float32)[None]
    offsets = None if frames.offsets is None else torch.as_tensor(frames.offsets, dtype=torch.float32)
    posed = posed_frames(
        body, betas_t, params["global_orient"], params["body_pose"], params["transl"], cfg.volume_resolution, offsets
    )
    with torch.no_grad():
        _, canonical = canonical_transforms(body, betas_t, torch.zeros(1, 3), big_pose()[None], torch.zeros(1, 3), offsets)
    lo = canonical.min(0).values - cfg.canonical_padding
    hi = canonical.max(0).values + cfg.canonical_padding
    train = cfg.train_cameras or [c.name for c in cameras if c.name not in cfg.heldout_cameras]
    run_params = {"subject": subject, "heldout": cfg.heldout_cameras, "train": train, "frame_stride": cfg.frame_stride}
    run_params["volume_resolution"] = cfg.volume_resolution
    inputs = [p for pair in captures for p in pair] + [p for p in (smpl, cameras_path) if p]
    with create_stage(out, DATASET_SCHEMA, 1, params=run_params, inputs=inputs) as f:
        f.attrs.update(subject=subject, train_cameras=json.dumps(train), heldout_cameras=json.dumps(cfg.heldout_cameras))
        write_cameras(f.create_group("cameras"), cameras)
        for cam in cameras:
            stack = np.stack(frames.images[cam.name])
            f.create_dataset(f"images/{cam.name}", data=stack, chunks=(1,) + stack.shape[1:], compression="lzf")
            f.create_dataset(f"masks/{cam.name}", data=np.concatenate(frames.masks[cam.name]).astype(np.uint8), compression="lzf")
        f.create_dataset("frames/action", data=np.array(frames.actions, dtype="S"))
        f.create_dataset("frames/frame_index", data=np.array(frames.index))
        for k, v in params.items():
            f.create_dataset(f"smpl/{k}", data=v.numpy())
        f.create_dataset("smpl/betas", data=frames.betas)
        if frames.offsets is not None:
            f.create_dataset("smpl/offsets", data=frames.offsets)
        f.create_dataset("posed/transforms", data=posed.transforms.numpy())
        f.create_dataset("posed/grid", data=posed.volumes.grid.numpy().astype(np.float16), compression="lzf")
        boxes = {
            "posed/lo": posed.volumes.lo,
            "posed/hi": posed.volumes.hi,
            "canonical/vertices": canonical,
            "canonical/lo": lo,
            "canonical/hi": hi,
            "canonical/faces": body.faces.int(),  # a surface-bound field's density follows this surface
        }
        for k, v in boxes.items():
            f.create_dataset(k, data=v.numpy())
    return {"frames": len(frames.actions), "train_cameras": train, "heldout_cameras": cfg.heldout_cameras}


@dataclass
class NerfDataset:
    """``dataset.h5`` in memory: images ``{camera: (T, H, W, 3) uint8}``, masks ``{camera: (T, H, W) bool}``."""

    subject: str
    cameras: dict[str, Camera]
    train_cameras: list[str]
    heldout_cameras: list[str]
    images: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    posed: PosedFrames
    betas: np.ndarray
    canonical_lo: torch.Tensor
    canonical_hi: torch.Tensor
    canonical_vertices: torch.Tensor  # (V, 3) the big-pose body
    canonical_faces: torch.Tensor | None  # (F, 3); None in a dataset made before surface-bound fields
    actions: list[str]
    frame_index: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.frame_index)


def load_dataset(path: str | Path) -> NerfDataset:
    with open_stage(path, DATASET_SCHEMA) as f:
        cams = {c.name: c for c in read_cameras(require(f, "cameras"))}
        train, heldout = json.loads(f.attrs["train_cameras"]), json.loads(f.attrs["heldout_cameras"])

        def arr(key: str) -> np.ndarray:
            return require(f, key)[()]

        posed = PosedFrames(
            PoseVolumes(
                torch.as_tensor(arr("posed/grid").astype(np.float32)),
                torch.as_tensor(arr("posed/lo")),
                torch.as_tensor(arr("posed/hi")),
            ),
            torch.as_tensor(arr("posed/transforms")),
            torch.as_tensor(arr("smpl/body_pose")).float(),
        )
        return NerfDataset(
            subject=str(f.attrs["subject"]),
            cameras=cams,
            train_cameras=train,
            heldout_cameras=heldout,
            images={n: arr(f"images/{n}") for n in cams},
            masks={n: arr(f"masks/{n}").astype(bool) for n in cams},
            posed=posed,
            betas=arr("smpl/betas"),
            canonical_lo=torch.as_tensor(arr("canonical/lo")),
            canonical_hi=torch.as_tensor(arr("canonical/hi")),
            canonical_vertices=torch.as_tensor(arr("canonical/vertices")),
            canonical_faces=torch.as_tensor(arr("canonical/faces")).long() if "canonical/faces" in f else None,
            actions=[a.decode() for a in arr("frames/action")],
            frame_index=arr("frames/frame_index"),
        )
