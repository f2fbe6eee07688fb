"""Generate a synthetic multi-view capture with complete ground truth.

Writes the *raw* layout a real capture would have (per-camera videos or image folders and a cameras
file) plus ``gt.h5``: SMPL parameters per frame, 3D joints of every joint set, 2D joints per camera
with visibility, masks and depth. The ingest stage turns it into the canonical capture like any other
dataset; every later stage is measured against this ground truth.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.body import BodyModel
from ntop.cameras import Camera, look_at
from ntop.datasets.synthetic.motions import MOTIONS, motion
from ntop.datasets.synthetic.scene import Appearance, Room
from ntop.errors import NtopError
from ntop.io import atomic_path, create_stage, write_cameras, write_image_folder, write_video
from ntop.raster import interpolate, rasterize, vertex_normals
from ntop.settings import settings_from_dict
from ntop.visibility import depth_margins, visibility_codes

__all__ = ["SyntheticConfig", "make_cameras", "pose_sequence", "generate", "GT_SCHEMA"]

GT_SCHEMA = "synthetic_gt"
_LIGHT = np.array([0.35, -0.55, 0.75]) / np.linalg.norm([0.35, -0.55, 0.75])


@dataclass
class SyntheticConfig:
    """Everything that defines one synthetic subject/action; units metres, degrees, 8-bit levels."""

    num_frames: int = 48
    fps: float = 25.0
    num_cameras: int = 4
    ring_radius: float = 2.6
    camera_height: float = 1.6
    width: int = 256
    height: int = 256
    hfov_deg: float = 56.0
    distortion: list[float] = field(default_factory=lambda: [-0.06, 0.015, 0.0005, -0.0005, 0.0])
    noise_std: float = 2.0
    flicker_std: float = 0.02
    format: str = "video"
    seed: int = 0
    betas: list[float] | None = None
    phenotype: dict[str, float] | None = None  # Anny phenotypes, turned into betas by the CLI

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "synthetic") -> "SyntheticConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.format not in ("video", "images"):
            raise NtopError("must be 'video' or 'images'", where, "format")
        if cfg.num_frames < 1 or cfg.num_cameras < 1:
            raise NtopError("num_frames and num_cameras must be positive", where)
        if cfg.betas is not None and cfg.phenotype is not None:
            raise NtopError("give betas or phenotype, not both", where, "phenotype")
        return cfg


def make_cameras(cfg: SyntheticConfig) -> list[Camera]:
    """Pinhole cameras with mild distortion on a ring around the origin, aimed at chest height."""
    rng = np.random.default_rng(cfg.seed + 1000)
    f = cfg.width / 2 / np.tan(np.radians(cfg.hfov_deg) / 2)
    cams = []
    for i in range(cfg.num_cameras):
        a = 2 * np.pi * i / cfg.num_cameras + rng.uniform(-0.1, 0.1)
        eye = np.array([cfg.ring_radius * np.cos(a), cfg.ring_radius * np.sin(a), cfg.camera_height + rng.uniform(-0.1, 0.1)])
        R, t = look_at(eye, np.array([0.0, 0.0, 0.95]) + rng.uniform(-0.05, 0.05, 3))
        K = [
            f * rng.uniform(0.98, 1.02),
            f * rng.uniform(0.98, 1.02),
            (cfg.width - 1) / 2 + rng.uniform(-3, 3),
            (cfg.height - 1) / 2 + rng.uniform(-3, 3),
        ]
        cams.append(Camera("pinhole", K, cfg.width, cfg.height, cfg.distortion, R, t, name=f"cam{i:02d}"))
    return cams


def pose_sequence(body: BodyModel, action: str, cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    """World-frame SMPL parameters (z up, feet on the floor at z = 0) for a motion."""
    if action not in MOTIONS:
        raise NtopError(f"unknown synthetic motion {action!r}; known: {', '.join(MOTIONS)}", field="actions")
    body_pose, yaw, path = motion(action, cfg.num_frames, cfg.fps)
    # SMPL is y-up and faces +z; the world is z-up: stand it up, then turn it about the vertical
    orient = Rotation.from_rotvec(np.stack([np.zeros_like(yaw), np.zeros_like(yaw), yaw], 1)) * Rotation.from_euler(
        "x", 90, degrees=True
    )
    rng = np.random.default_rng(cfg.seed)
    betas = np.asarray(cfg.betas if cfg.betas is not None else rng.normal(0, 0.8, 10), dtype=np.float64)
    if betas.shape != (10,):
        raise NtopError("betas must have 10 values", field="synthetic.betas")
    go = torch.as_tensor(orient.as_rotvec(), dtype=torch.float32)
    with torch.no_grad():
        out = body(go, torch.as_tensor(body_pose, dtype=torch.float32), torch.as_tensor(betas, dtype=torch.float32)[None])
    transl = np.zeros((cfg.num_frames, 3))
    transl[:, :2] = path
    transl[:, 2] = -out.vertices[..., 2].amin(1).numpy()
    return {"global_orient": orient.as_rotvec(), "body_pose": body_pose, "betas": betas, "transl": transl}


def _render_camera(
    body: BodyModel,
    verts: torch.Tensor,
    cam: Camera,
    app_attrs: torch.Tensor,
    room: Room,
    pelvis_xy: np.ndarray,
    cfg: SyntheticConfig,
    rng: np.random.Generator,
    chunk: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``(T, H, W, 3)`` uint8, body masks ``(T, H, W)`` and body depth ``(T, H, W)`` (inf = none)."""
    room_rgb, room_depth, floor_xy = room.render(cam)
    K = torch.as_tensor(cam.K, dtype=torch.float32)[None]
    dist = torch.as_tensor(cam.dist, dtype=torch.float32)[None]
    images, masks, depths = [], [], []
    for s in range(0, len(verts), chunk):
        v = verts[s : s + chunk]
        frags = rasterize(
            cam.world_to_camera(v), body.faces, cam.model, K.expand(len(v), -1), dist.expand(len(v), -1), cam.width, cam.height
        )
        normals = interpolate(vertex_normals(v, body.faces), body.faces, frags)
        attrs = interpolate(app_attrs, body.faces, frags)
        uv = (
            None
            if body.texture_coordinates is None
            else interpolate(body.texture_coordinates.float(), body.face_texture_indices, frags)
        )
        albedo = Appearance.shade(attrs, uv)
        lambert = (torch.nn.functional.normalize(normals, dim=-1) @ torch.as_tensor(_LIGHT, dtype=torch.float32)).clamp(min=0)
        body_rgb = (albedo * (0.45 + 0.6 * lambert[..., None])).numpy()
        depth = frags.depth.numpy()
        for k in range(len(v)):
            bg = room_rgb * room.shadow(floor_xy, pelvis_xy[s + k])[..., None]
            front = (depth[k] < room_depth)[..., None]
            rgb = np.where(front, body_rgb[k], bg)
            rgb = rgb * (1 + rng.normal(0, cfg.flicker_std)) + rng.normal(0, cfg.noise_std / 255, rgb.shape)
            images.append(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8))
        masks.append(frags.mask.numpy())
        depths.append(depth)
    return np.stack(images), np.concatenate(masks), np.concatenate(depths)


def generate(
    body: BodyModel, subject: str, action: str, cfg: SyntheticConfig, out_dir: str | Path, body_path: str | None = None
) -> None:
    """Render the capture into ``out_dir`` (atomically: the folder appears complete or not at all)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, sum(map(ord, subject)), sum(map(ord, action))])
    params = pose_sequence(body, action, cfg)
    cams = make_cameras(cfg)
    betas = torch.as_tensor(params["betas"], dtype=torch.float32)[None]
    with torch.no_grad():
        out = body(
            *(torch.as_tensor(params[k], dtype=torch.float32) for k in ("global_orient", "body_pose")),
            betas,
            torch.as_tensor(params["transl"], dtype=torch.float32),
        )
        rest = body(torch.zeros(1, 3), torch.zeros(1, 69), betas)
    template = rest.vertices[0].numpy()
    rest_joints = rest.joints[0].numpy()
    appearance = Appearance.create(template - rest_joints[9], body.weights.numpy(), cfg.seed)
    app_attrs = appearance.attributes(template - rest_joints[9])
    room = Room(seed=cfg.seed)
    pelvis_xy = out.joints[:, 0, :2].numpy()
    sets = body.available_joint_sets()
    joints3d = {s: body.joint_set(out, s).numpy().astype(np.float64) for s in sets}
    joints = np.concatenate([joints3d[s] for s in sets], 1)  # every set at once: one visibility pass
    split = np.cumsum([joints3d[s].shape[1] for s in sets])[:-1]

    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        (tmp / "cameras.json").write_text(json.dumps([c.to_dict() for c in cams], indent=1))
        with create_stage(
            tmp / "gt.h5",
            GT_SCHEMA,
            1,
            params={"subject": subject, "action": action, **asdict(cfg)},
            inputs=[body_path] if body_path else [],
        ) as f:
            f.attrs.update(subject=subject, action=action, fps=cfg.fps, num_frames=cfg.num_frames)
            for k, v in params.items():
                f.create_dataset(f"smpl/{k}", data=v)
            write_cameras(f.create_group("cameras"), cams)
            C, T, H, W = len(cams), cfg.num_frames, cfg.height, cfg.width
            dmask = f.create_dataset(
                "masks", (C, T, H, W), dtype=np.uint8, chunks=(1, 1, H, W), compression="gzip", compression_opts=4
            )
            ddepth = f.create_dataset(
                "depth", (C, T, H, W), dtype=np.float16, chunks=(1, 1, H, W), compression="gzip", compression_opts=4
            )
            dmask.attrs["meaning"] = "1 where the body is the first surface"
            ddepth.attrs["meaning"] = "distance from the camera centre along the pixel ray to the body (metres); 0 = no body"
            for s in sets:
                f.create_dataset(f"joints3d/{s}", data=joints3d[s])
            uv_all, valid_all = np.zeros((C, T, joints.shape[1], 2)), np.zeros((T, C, joints.shape[1]), dtype=bool)
            for c, cam in enumerate(cams):
                images, masks, depth = _render_camera(body, out.vertices, cam, app_attrs, room, pelvis_xy, cfg, rng)
                dmask[c] = masks.astype(np.uint8)
                ddepth[c] = np.where(np.isfinite(depth), depth, 0).astype(np.float16)
                uv, valid_all[:, c] = cam.project(joints)
                uv_all[c] = np.where(valid_all[:, c, :, None], uv, 0.0)
                if cfg.format == "video":
                    (tmp / "videos").mkdir(exist_ok=True)
                    write_video(tmp / "videos" / f"{cam.name}.avi", images, fps=cfg.fps)
                else:
                    write_image_folder(tmp / "images" / cam.name, images)
            centres = np.broadcast_to(np.stack([cam.center for cam in cams]), (T, C, 3))
            vis = visibility_codes(
                valid_all, out.vertices.numpy(), body.faces.numpy(), centres, joints, depth_margins(body, sets, betas)
            )
            for s, uv_s, vis_s in zip(sets, np.split(uv_all, split, axis=2), np.split(vis.transpose(1, 0, 2), split, axis=2)):
                f.create_dataset(f"joints2d/{s}", data=uv_s)
                f.create_dataset(f"visibility/{s}", data=vis_s)
        meta = {
            "subject": subject,
            "action": action,
            "fps": cfg.fps,
            "num_frames": cfg.num_frames,
            "format": cfg.format,
            "cameras": [c.name for c in cams],
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
