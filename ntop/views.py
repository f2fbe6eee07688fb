"""Virtual top-view fisheye rigs: where the ceiling cameras are for every rendered frame.

``ntop9`` reproduces NToP's rig: per frame, one camera straight above the SMPL root and eight on a
ring of radius ``r`` at 45 degree steps, all at height ``h`` above the root, optical axes straight
down, not rotated (only translated), ideal equidistant lens with ``f = H / pi`` (a 180 degree image
circle inscribed in the image). ``sampled`` draws ceiling cameras: height above the floor, horizontal
offset inside a room radius, uniform yaw, a small tilt; fixed for the sequence (real ceiling cameras)
or redrawn every frame. Any fisheye model of ``ntop.cameras`` can be used; its focal length is set
so that the field of view fills the image circle.

Each view gets NToP-compatible names, ``{dataset:03d}{subject:03d}{action:03d}{frame:06d}{H:02d}{R:02d}{cam}``
(H and R in decimetres), and an integer id below 2**53: ``{dataset}{subject:03d}{action:03d}{frame:06d}{rig}{cam}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ntop.body.params import read_smpl
from ntop.cameras import FISHEYE_MODELS, MODELS, Camera, max_incidence, project
from ntop.datasets.canonical import Capture
from ntop.errors import NtopError
from ntop.io import create_stage, open_stage, require
from ntop.settings import settings_from_dict

__all__ = [
    "VIEWS_SCHEMA",
    "RigConfig",
    "View",
    "PlannedViews",
    "focal_for_fov",
    "down_rotation",
    "plan_rig",
    "view_name",
    "view_id",
    "plan_views",
    "load_views",
]

VIEWS_SCHEMA = "views"
DEFAULT_CODES = (0, 1, 1)  # (dataset, subject, action) numbers in view names, when none are given


@dataclass
class RigConfig:
    """How the virtual cameras are placed; distances in metres, angles in degrees."""

    kind: str = "ntop9"  # ntop9 | sampled
    model: str = "equidistant"
    dist: list[float] = field(default_factory=list)
    size: int = 256
    fov_deg: float = 180.0
    frame_stride: int = 1
    heights_radii: list[list[float]] = field(default_factory=lambda: [[1.2, 1.0]])  # ntop9: (h above root, r)
    views: int = 4  # sampled: cameras per frame (or per sequence)
    ceiling: list[float] = field(default_factory=lambda: [2.4, 3.2])  # sampled: height above the floor
    radius: float = 2.0  # sampled: horizontal offset from the subject, at most
    tilt_deg: float = 10.0  # sampled: tilt of the optical axis away from straight down, at most
    per_frame: bool = False  # sampled: redraw the cameras every frame
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "views") -> "RigConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.kind not in ("ntop9", "sampled"):
            raise NtopError("must be ntop9 or sampled", where, "kind")
        if cfg.model not in FISHEYE_MODELS:
            raise NtopError(f"must be one of {', '.join(FISHEYE_MODELS)}", where, "model")
        if len(cfg.dist) != MODELS[cfg.model]:
            raise NtopError(f"model {cfg.model} takes {MODELS[cfg.model]} values", where, "dist")
        n_views = 9 * len(cfg.heights_radii) if cfg.kind == "ntop9" else cfg.views
        if cfg.kind == "ntop9" and len(cfg.heights_radii) > 10 or cfg.kind == "sampled" and not 1 <= cfg.views <= 10:
            raise NtopError(f"at most 10 rigs of at most 10 cameras fit the id scheme ({n_views} asked)", where)
        return cfg


@dataclass
class View:
    """One virtual camera of one frame, with the codes that name it."""

    camera: Camera
    cam_index: int  # 0..9 within its rig
    rig_index: int  # 0..9: which (h, r) of ntop9; 0 for sampled
    h: float  # metres: ntop9's height above the root; sampled: height above the floor
    r: float  # metres: horizontal distance from the root


def focal_for_fov(model: str, dist: np.ndarray, size: int, fov_deg: float) -> float:
    """Focal length (pixels) that puts the rim of a ``fov_deg`` field of view on the inscribed circle."""
    half = math.radians(fov_deg) / 2
    limit = float(max_incidence(model, np.asarray(dist, dtype=np.float64)))
    if half > limit + 1e-9:
        raise NtopError(
            f"a {fov_deg} degree field of view exceeds what model {model} can image ({2 * math.degrees(limit):.0f})",
            field="views.fov_deg",
        )
    ray = np.array([[math.sin(half), 0.0, math.cos(half)]])
    uv, _ = project(model, ray, np.array([1.0, 1.0, 0.0, 0.0]), np.asarray(dist, dtype=np.float64))
    return (size / 2) / float(uv[0, 0])


def down_rotation(yaw: float = 0.0, tilt: float = 0.0, tilt_dir: float = 0.0) -> np.ndarray:
    """World-to-camera rotation of a camera looking straight down (world z up), turned by ``yaw`` about
    the vertical and tilted by ``tilt`` towards azimuth ``tilt_dir`` (radians). Yaw 0: image x = world x."""
    c, s = math.cos(yaw), math.sin(yaw)
    x = np.array([c, s, 0.0])
    z = np.array([0.0, 0.0, -1.0])
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    if tilt:
        axis = np.array([-math.sin(tilt_dir), math.cos(tilt_dir), 0.0])  # horizontal, perpendicular to the tilt direction
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        tilt_R = np.eye(3) + math.sin(tilt) * K + (1 - math.cos(tilt)) * K @ K  # rotates the viewing direction
        R = R @ tilt_R.T
    return R


def _camera(cfg: RigConfig, R: np.ndarray, centre: np.ndarray, name: str) -> Camera:
    f = focal_for_fov(cfg.model, np.asarray(cfg.dist), cfg.size, cfg.fov_deg)
    c = (cfg.size - 1) / 2
    return Camera(cfg.model, [f, f, c, c], cfg.size, cfg.size, cfg.dist, R, -R @ centre, fov_deg=cfg.fov_deg, name=name)


def plan_rig(cfg: RigConfig, roots: np.ndarray, floor_z: float = 0.0) -> list[list[View]]:
    """Views for every frame, given the SMPL root (pelvis) positions ``(F, 3)`` (world, z up, metres)."""
    views: list[list[View]] = []
    rng = np.random.default_rng(cfg.seed)
    fixed: list[tuple[np.ndarray, np.ndarray, float, float]] | None = None
    for f, root in enumerate(roots):
        frame_views = []
        if cfg.kind == "ntop9":
            for k, (h, r) in enumerate(cfg.heights_radii):
                for i in range(9):
                    a = 2 * math.pi * (i - 1) / 8
                    offset = np.zeros(3) if i == 0 else np.array([r * math.cos(a), r * math.sin(a), 0.0])
                    centre = root + offset + np.array([0.0, 0.0, h])
                    frame_views.append(View(_camera(cfg, down_rotation(), centre, f"r{k}c{i}"), i, k, h, 0.0 if i == 0 else r))
        else:
            if fixed is None or cfg.per_frame:
                anchor = roots.mean(0) if not cfg.per_frame else root
                fixed = []
                for _ in range(cfg.views):
                    rad = cfg.radius * math.sqrt(rng.uniform())
                    az = rng.uniform(0, 2 * math.pi)
                    centre = np.array(
                        [anchor[0] + rad * math.cos(az), anchor[1] + rad * math.sin(az), floor_z + rng.uniform(*cfg.ceiling)]
                    )
                    R = down_rotation(
                        rng.uniform(0, 2 * math.pi), math.radians(cfg.tilt_deg) * rng.uniform(), rng.uniform(0, 2 * math.pi)
                    )
                    fixed.append((R, centre, centre[2] - floor_z, rad))
            for i, (R, centre, h, rad) in enumerate(fixed):
                frame_views.append(View(_camera(cfg, R, centre, f"s{i}"), i, 0, h, float(np.hypot(*(centre[:2] - root[:2])))))
        views.append(frame_views)
    return views


def view_name(dataset: int, subject: int, action: int, frame: int, view: View) -> str:
    """NToP's 20-digit file name stem (H and R in decimetres, two digits each)."""
    H, R = min(round(view.h * 10), 99), min(round(view.r * 10), 99)
    return f"{dataset:03d}{subject:03d}{action:03d}{frame:06d}{H:02d}{R:02d}{view.cam_index}"


def view_id(dataset: int, subject: int, action: int, frame: int, view: View) -> int:
    """A unique integer id below 2**53 (JSON-safe): dataset, subject, action, frame, rig, camera."""
    if not (0 <= dataset <= 8 and 0 <= subject < 1000 and 0 <= action < 1000 and 0 <= frame < 10**6):
        raise NtopError(
            f"codes out of range for ids (dataset {dataset}, subject {subject}, action {action}, frame {frame})",
            field="dataset codes",
        )
    return int(f"{dataset + 1}{subject:03d}{action:03d}{frame:06d}{view.rig_index}{view.cam_index}")


@dataclass
class PlannedViews:
    """``views.h5`` in memory: the body per frame and every view's camera, names and ids."""

    subject: str
    action: str
    frame_index: np.ndarray  # (F,)
    smpl: dict[str, np.ndarray]  # global_orient (F, 3), body_pose (F, 69), transl (F, 3), betas (10,)
    model: str
    size: int
    fov_deg: float
    K: np.ndarray  # (F, V, 4)
    dist: np.ndarray  # (F, V, D)
    R: np.ndarray  # (F, V, 3, 3)
    t: np.ndarray  # (F, V, 3)
    cam_index: np.ndarray  # (F, V)
    rig_index: np.ndarray  # (F, V)
    names: np.ndarray  # (F, V) str
    ids: np.ndarray  # (F, V) int64

    @property
    def shape(self) -> tuple[int, int]:
        return self.ids.shape

    def camera(self, f: int, v: int) -> Camera:
        return Camera(
            self.model,
            self.K[f, v],
            self.size,
            self.size,
            self.dist[f, v],
            self.R[f, v],
            self.t[f, v],
            self.fov_deg,
            str(self.names[f, v]),
        )


def plan_views(
    capture_path: str | Path, out: str | Path, cfg: RigConfig, codes: tuple[int, int, int], smpl_path: str | Path | None = None
) -> dict[str, Any]:
    """Write ``views.h5`` for one subject/action: the bodies to render (every ``frame_stride``-th
    frame) and their views. ``codes`` = (dataset, subject, action) numbers for names and ids; bodies
    from ``smpl_path`` (``fit_smpl``'s output) or the capture's ground truth."""
    with Capture(capture_path) as cap:
        subject, action = cap.subject, cap.action
    bodies = read_smpl(smpl_path or capture_path, action)
    bodies = bodies.take(np.arange(0, len(bodies.frame_index), cfg.frame_stride))
    smpl, roots, frames = bodies.params(), bodies.pelvis, bodies.frame_index
    views = plan_rig(cfg, roots)
    F, V = len(views), len(views[0])
    arr = {
        "K": np.array([[v.camera.K for v in fv] for fv in views]),
        "dist": np.array([[v.camera.dist for v in fv] for fv in views]).reshape(F, V, -1),
        "R": np.array([[v.camera.R for v in fv] for fv in views]),
        "t": np.array([[v.camera.t for v in fv] for fv in views]),
        "cam_index": np.array([[v.cam_index for v in fv] for fv in views]),
        "rig_index": np.array([[v.rig_index for v in fv] for fv in views]),
        "h": np.array([[v.h for v in fv] for fv in views]),
        "r": np.array([[v.r for v in fv] for fv in views]),
        "names": np.array([[view_name(*codes, int(fr), v) for v in fv] for fr, fv in zip(frames, views)], dtype="S"),
        "ids": np.array([[view_id(*codes, int(fr), v) for v in fv] for fr, fv in zip(frames, views)], dtype=np.int64),
    }
    if len(set(arr["ids"].ravel().tolist())) != arr["ids"].size or len(set(arr["names"].ravel().tolist())) != arr["names"].size:
        raise NtopError("view names or ids collide (two cameras with one code)", field="views")
    params = {"rig": cfg.__dict__, "codes": list(codes)}
    with create_stage(out, VIEWS_SCHEMA, 1, params=params, inputs=[capture_path]) as f:
        f.attrs.update(
            subject=subject,
            action=action,
            model=cfg.model,
            size=cfg.size,
            fov_deg=cfg.fov_deg,
            codes=json.dumps(list(codes)),
            rig=json.dumps(cfg.__dict__),
        )
        f.create_dataset("frame_index", data=frames)
        for k, v in smpl.items():
            f.create_dataset(f"smpl/{k}", data=v)
        for k, v in arr.items():
            f.create_dataset(f"views/{k}", data=v)
    return {"frames": F, "views_per_frame": V}


def load_views(path: str | Path) -> PlannedViews:
    with open_stage(path, VIEWS_SCHEMA) as f:

        def get(key: str) -> np.ndarray:
            return require(f, key)[()]

        return PlannedViews(
            subject=str(f.attrs["subject"]),
            action=str(f.attrs["action"]),
            frame_index=get("frame_index"),
            smpl={k: get(f"smpl/{k}") for k in ("global_orient", "body_pose", "transl", "betas", "offsets") if f"smpl/{k}" in f},
            model=str(f.attrs["model"]),
            size=int(f.attrs["size"]),
            fov_deg=float(f.attrs["fov_deg"]),
            K=get("views/K"),
            dist=get("views/dist"),
            R=get("views/R"),
            t=get("views/t"),
            cam_index=get("views/cam_index"),
            rig_index=get("views/rig_index"),
            names=get("views/names").astype(str),
            ids=get("views/ids"),
        )
