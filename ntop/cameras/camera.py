"""A calibrated camera: intrinsics, a lens of the registry, a pose and an image size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ntop.cameras.projection import DEFAULT_FOV_DEG, MODELS, CameraError, project, unproject

__all__ = ["Camera", "look_at"]


def _as_like(a: np.ndarray, like: Any) -> Any:
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(a, dtype=like.dtype, device=like.device)
    return np.asarray(a, dtype=np.float64)


@dataclass
class Camera:
    """One calibrated camera. ``R``, ``t`` map world to camera (metres); ``K`` = fx, fy, cx, cy (px)."""

    model: str
    K: np.ndarray
    width: int
    height: int
    dist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    fov_deg: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise CameraError(f"camera {self.name!r}: field 'model': unknown model {self.model!r}; known: {', '.join(MODELS)}")
        self.K = np.asarray(self.K, dtype=np.float64).reshape(4)
        n = MODELS[self.model]
        self.dist = np.zeros(n) if np.size(self.dist) == 0 else np.asarray(self.dist, dtype=np.float64).reshape(-1)
        if self.dist.shape != (n,):
            raise CameraError(f"camera {self.name!r}: field 'dist': model {self.model!r} takes {n} values, got {self.dist.size}")
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        if self.fov_deg is None:
            self.fov_deg = DEFAULT_FOV_DEG[self.model]
        for name, value in (("K", self.K), ("dist", self.dist), ("R", self.R), ("t", self.t)):
            if not np.all(np.isfinite(value)):
                raise CameraError(f"camera {self.name!r}: field {name!r} is not finite")
        if self.K[0] <= 0 or self.K[1] <= 0:
            raise CameraError(f"camera {self.name!r}: field 'K': focal lengths must be positive")
        if abs(np.linalg.det(self.R) - 1) > 1e-4 or np.abs(self.R @ self.R.T - np.eye(3)).max() > 1e-4:
            raise CameraError(f"camera {self.name!r}: field 'R' is not a rotation matrix")
        if self.width <= 0 or self.height <= 0:
            raise CameraError(f"camera {self.name!r}: fields 'width'/'height' must be positive")

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict (stage files, configs)."""
        return {
            "name": self.name,
            "model": self.model,
            "width": int(self.width),
            "height": int(self.height),
            "K": self.K.tolist(),
            "dist": self.dist.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "fov_deg": self.fov_deg,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "camera") -> "Camera":
        """Inverse of :meth:`to_dict`; a missing or malformed field raises naming ``where`` and the field."""
        for key in ("model", "K", "width", "height"):
            if key not in d:
                raise CameraError(f"{where}: missing field {key!r}")
        try:
            return cls(
                model=str(d["model"]),
                K=np.asarray(d["K"], dtype=np.float64),
                width=int(d["width"]),
                height=int(d["height"]),
                dist=np.asarray(d.get("dist", []), dtype=np.float64),
                R=np.asarray(d.get("R", np.eye(3)), dtype=np.float64),
                t=np.asarray(d.get("t", np.zeros(3)), dtype=np.float64),
                fov_deg=d.get("fov_deg"),
                name=str(d.get("name", "")),
            )
        except CameraError as e:
            raise CameraError(f"{where}: {e}") from None
        except (TypeError, ValueError) as e:
            raise CameraError(f"{where}: malformed field: {e}") from None

    # -- geometry ----------------------------------------------------------------------------------
    @property
    def center(self) -> np.ndarray:
        """Camera centre in the world frame (metres)."""
        return -self.R.T @ self.t

    @property
    def K_matrix(self) -> np.ndarray:
        fx, fy, cx, cy = self.K
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])

    def world_to_camera(self, points: Any) -> Any:
        """World points ``(..., 3)`` into the camera frame (numpy or torch)."""
        return points @ _as_like(self.R, points).T + _as_like(self.t, points)

    def camera_to_world(self, points: Any) -> Any:
        return (points - _as_like(self.t, points)) @ _as_like(self.R, points)

    def project(self, points_world: Any) -> tuple[Any, Any]:
        """World points to pixels; valid = inside the field of view *and* inside the image."""
        uv, valid = self.project_camera(self.world_to_camera(points_world))
        return uv, valid & self.in_image(uv)

    def project_camera(self, points_cam: Any) -> tuple[Any, Any]:
        """Camera-frame points to pixels; valid = inside the field of view (image bounds not checked)."""
        return project(
            self.model, points_cam, _as_like(self.K, points_cam), _as_like(self.dist, points_cam), fov_deg=self.fov_deg
        )

    def unproject(self, pixels: Any) -> tuple[Any, Any]:
        """Pixels to unit rays in the camera frame."""
        return unproject(self.model, pixels, _as_like(self.K, pixels), _as_like(self.dist, pixels), fov_deg=self.fov_deg)

    def in_image(self, uv: Any) -> Any:
        """Pixel centres run from 0 to size - 1; a point counts as inside up to half a pixel beyond."""
        u, v = uv[..., 0], uv[..., 1]
        return (u >= -0.5) & (u < self.width - 0.5) & (v >= -0.5) & (v < self.height - 0.5)

    def pixel_grid(self, like: Any = None) -> Any:
        """All pixel centres ``(H, W, 2)`` as (u, v)."""
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        return _as_like(np.stack([u, v], -1), like if like is not None else np.zeros(0))

    def world_rays(self, pixels: Any) -> tuple[Any, Any, Any]:
        """Pixels to world-frame rays: origins, unit directions and validity (for ray casting and NeRF)."""
        rays, valid = self.unproject(pixels)
        dirs = rays @ _as_like(self.R, rays)  # R^T applied to row vectors
        origins = (
            _as_like(self.center, rays).expand_as(dirs)
            if isinstance(dirs, torch.Tensor)
            else np.broadcast_to(self.center, dirs.shape)
        )
        return origins, dirs, valid

    def scaled(self, factor: float) -> "Camera":
        """The same camera at ``factor`` times the resolution (pixel centres stay consistent)."""
        fx, fy, cx, cy = self.K
        K = np.array([fx * factor, fy * factor, (cx + 0.5) * factor - 0.5, (cy + 0.5) * factor - 0.5])
        return Camera(
            self.model,
            K,
            round(self.width * factor),
            round(self.height * factor),
            self.dist,
            self.R,
            self.t,
            self.fov_deg,
            self.name,
        )


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera ``R, t`` for a camera at ``eye`` looking at ``target`` (x right, y down, z forward)."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-8:  # looking straight along `up`: any perpendicular x will do
        x = np.cross(z, np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye
