"""Camera models: camera-frame points to pixels, pixels back to unit rays, for every lens ntop uses.

One functional core written in torch (batched by broadcasting, differentiable, any device); numpy
arrays go through the same code in float64 on the CPU and come back as numpy. Conventions: the
camera frame has x right, y down, z forward; pixel (0, 0) is the *centre* of the top-left pixel (as
in OpenCV); extrinsics map world to camera, ``x_cam = R @ x_world + t`` (metres).

Models and their distortion parameters (``dist``):

==================  ==========================  =========================================
model               dist                        image radius ``r`` for incidence ``theta``
==================  ==========================  =========================================
pinhole             k1, k2, p1, p2, k3          OpenCV ``projectPoints`` (tan theta, then distortion)
opencv_fisheye      k1, k2, k3, k4              Kannala-Brandt, ``cv2.fisheye``
equidistant         (none)                      f * theta (NToP's ideal fisheye)
equisolid           (none)                      2 f sin(theta / 2)
stereographic       (none)                      2 f tan(theta / 2)
orthographic        (none)                      f sin(theta)
double_sphere       xi, alpha                   Usenko et al. 2018
==================  ==========================  =========================================

A point outside a model's field of view is reported invalid instead of being wrapped around. The
field of view is the smaller of the model's own limit (where the mapping stops being one-to-one) and
the camera's ``fov_deg`` when one is set.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "MODELS",
    "Camera",
    "CameraError",
    "project",
    "unproject",
    "max_incidence",
]

#: number of distortion parameters of each model
MODELS: dict[str, int] = {
    "pinhole": 5,
    "opencv_fisheye": 4,
    "equidistant": 0,
    "equisolid": 0,
    "stereographic": 0,
    "orthographic": 0,
    "double_sphere": 2,
}
DEFAULT_FOV_DEG: dict[str, float | None] = {
    "pinhole": None,
    "opencv_fisheye": 180.0,
    "equidistant": 180.0,
    "equisolid": 180.0,
    "stereographic": 180.0,
    "orthographic": 180.0,
    "double_sphere": None,
}
_EPS = 1e-12
_NEWTON_STEPS = 30
_MIN_SLOPE = 0.1  # d(image radius)/d(angle or radius) below which the field of view ends


def _hypot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sqrt(a^2 + b^2) with a finite gradient at 0 (torch.hypot's is NaN there: the optical axis)."""
    return torch.sqrt(torch.clamp(a * a + b * b, min=1e-30))


def _tol(x: torch.Tensor) -> float:
    """Residual accepted from an iterative inverse: tight in float64, loose enough for float32."""
    return 1e-9 if x.dtype == torch.float64 else 1e-4


class CameraError(ValueError):
    """A camera description that cannot be used (unknown model, wrong parameter count, bad field)."""


# ----------------------------------------------------------------------------------------------
# numpy <-> torch: one implementation, two front doors
# ----------------------------------------------------------------------------------------------


def _numpy_friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a torch function take numpy arrays: compute in float64 on the CPU, return numpy."""

    @functools.wraps(fn)
    def wrapper(model: str, *arrays: Any, **kwargs: Any) -> Any:
        if not any(isinstance(a, np.ndarray) for a in arrays):
            return fn(model, *arrays, **kwargs)
        tensors = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]
        out = fn(model, *tensors, **kwargs)
        return tuple(o.numpy() for o in out)

    return wrapper


def _check(model: str, dist: torch.Tensor) -> None:
    if model not in MODELS:
        raise CameraError(f"unknown camera model {model!r}; known: {', '.join(MODELS)}")
    if dist.shape[-1] != MODELS[model]:
        raise CameraError(f"camera model {model!r} takes {MODELS[model]} distortion parameters, got {dist.shape[-1]}")


# ----------------------------------------------------------------------------------------------
# radial models: r = g(theta) with the normalised image radius r (focal length 1)
# ----------------------------------------------------------------------------------------------


def _kb_poly(theta: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Kannala-Brandt r(theta) and dr/dtheta."""
    t2 = theta * theta
    k1, k2, k3, k4 = (d[..., i] for i in range(4))
    poly = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    dpoly = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta * poly, dpoly


def _radial_forward(model: str, theta: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    if model == "equidistant":
        return theta
    if model == "equisolid":
        return 2 * torch.sin(theta / 2)
    if model == "stereographic":
        return 2 * torch.tan(theta / 2)
    if model == "orthographic":
        return torch.sin(theta)
    return _kb_poly(theta, d)[0]


def _radial_inverse(model: str, r: torch.Tensor, d: torch.Tensor, theta_max: torch.Tensor) -> torch.Tensor:
    if model == "equidistant":
        return r
    if model == "equisolid":
        return 2 * torch.asin(torch.clamp(r / 2, max=1.0))
    if model == "stereographic":
        return 2 * torch.atan(r / 2)
    if model == "orthographic":
        return torch.asin(torch.clamp(r, max=1.0))
    theta = torch.minimum(r, theta_max)  # Newton from the equidistant guess, kept inside the monotone range
    for _ in range(_NEWTON_STEPS):
        g, dg = _kb_poly(theta, d)
        theta = torch.clamp(theta - (g - r) / dg, min=0.0)
        theta = torch.minimum(theta, theta_max)
    return theta


def _first_turn(fn: Callable[[torch.Tensor], torch.Tensor], hi: float, like: torch.Tensor, n: int = 4097) -> torch.Tensor:
    """Smallest x in (0, hi] where the derivative ``fn(x)`` falls below ``_MIN_SLOPE`` (``hi`` if never).

    Near a fold of the distortion polynomial the mapping is still one-to-one but so flat that no
    pixel pins down its ray; the field of view ends before that. Dense sampling instead of root
    finding, so that batched parameters need no Python loop.
    """
    xs = torch.linspace(0.0, hi, n, dtype=like.dtype, device=like.device)
    shape = like.shape[:-1]
    vals = fn(xs.reshape((1,) * len(shape) + (n,)))  # (..., n)
    bad = vals <= _MIN_SLOPE
    idx = torch.where(bad.any(-1), bad.to(torch.int64).argmax(-1), torch.full(shape, n, device=like.device))
    limit = xs[torch.clamp(idx - 1, min=0)]
    return torch.where(idx >= n, torch.full_like(limit, hi), limit)


def max_incidence(model: str, dist: torch.Tensor, fov_deg: float | None = None) -> torch.Tensor:
    """Largest valid angle between a ray and the optical axis (radians), shape ``dist.shape[:-1]``.

    The model's own limit (where it stops being one-to-one, or nearly so), capped by ``fov_deg / 2``
    when given.
    """
    if isinstance(dist, np.ndarray):
        return max_incidence(model, torch.as_tensor(dist, dtype=torch.float64), fov_deg).numpy()
    _check(model, dist)
    shape = dist.shape[:-1]
    if model == "pinhole":
        k1, k2, k3 = (dist[..., i].unsqueeze(-1) for i in (0, 1, 4))
        # d/dr of r * (1 + k1 r^2 + k2 r^4 + k3 r^6), sampled up to r = tan(89.9 deg)
        rmax = _first_turn(lambda r: 1 + r * r * (3 * k1 + r * r * (5 * k2 + r * r * 7 * k3)), math.tan(math.radians(89.9)), dist, n=20001)
        limit = torch.atan(rmax)
    elif model == "opencv_fisheye":
        limit = _first_turn(lambda th: _kb_poly(th, dist.unsqueeze(-2))[1], math.pi, dist)
    elif model == "double_sphere":
        xi, alpha = dist[..., 0], dist[..., 1]
        w1 = torch.where(alpha <= 0.5, alpha / (1 - alpha), (1 - alpha) / alpha)
        w2 = (w1 + xi) / torch.sqrt(2 * w1 * xi + xi * xi + 1)
        limit = torch.acos(torch.clamp(-w2, -1.0, 1.0))  # z > -w2 * |p|
    elif model == "orthographic":
        limit = torch.full(shape, math.pi / 2, dtype=dist.dtype, device=dist.device)
    else:
        limit = torch.full(shape, math.pi, dtype=dist.dtype, device=dist.device)
    if fov_deg is not None:
        limit = torch.clamp(limit, max=math.radians(fov_deg) / 2)
    return limit


# ----------------------------------------------------------------------------------------------
# pinhole distortion (OpenCV's five-parameter model) and its Newton inverse
# ----------------------------------------------------------------------------------------------


def _distort(x: torch.Tensor, y: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def _undistort(
    xd: torch.Tensor, yd: torch.Tensor, d: torch.Tensor, r_max: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Invert :func:`_distort`; returns x, y and the final residual.

    The radial part is inverted first by bisection over the monotone range ``[0, r_max]`` (robust
    even where the polynomial is steep), then 2D Newton steps absorb the tangential terms.
    """
    k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
    rd = _hypot(xd, yd)
    lo, hi = torch.zeros_like(rd), torch.broadcast_to(r_max, rd.shape).clone()
    for _ in range(60):
        mid = (lo + hi) / 2
        m2 = mid * mid
        above = mid * (1 + m2 * (k1 + m2 * (k2 + m2 * k3))) > rd
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    ru = (lo + hi) / 2
    rd_safe = torch.where(rd > _EPS, rd, torch.ones_like(rd))
    s = torch.where(rd > _EPS, ru / rd_safe, torch.ones_like(rd))
    x, y = xd * s, yd * s
    for _ in range(8):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dradial = 2 * k1 + r2 * (4 * k2 + r2 * 6 * k3)  # 2 * d radial / d(r^2)
        ex, ey = _distort(x, y, d)
        ex, ey = ex - xd, ey - yd
        jxx = radial + dradial * x * x + 2 * p1 * y + 6 * p2 * x
        jxy = dradial * x * y + 2 * p1 * x + 2 * p2 * y
        jyy = radial + dradial * y * y + 6 * p1 * y + 2 * p2 * x
        det = jxx * jyy - jxy * jxy
        det = torch.where(det.abs() < _EPS, torch.full_like(det, _EPS), det)
        x = x - (jyy * ex - jxy * ey) / det
        y = y - (jxx * ey - jxy * ex) / det
    rx, ry = _distort(x, y, d)
    return x, y, torch.hypot(rx - xd, ry - yd)


# ----------------------------------------------------------------------------------------------
# the two public kernels
# ----------------------------------------------------------------------------------------------


@_numpy_friendly
def project(
    model: str,
    points: torch.Tensor,
    K: torch.Tensor,
    dist: torch.Tensor,
    fov_deg: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame points ``(..., 3)`` to pixels ``(..., 2)`` and a validity mask ``(...)``.

    ``K`` is ``(..., 4)`` = fx, fy, cx, cy and ``dist`` ``(..., D)``; both broadcast against the
    points' leading dimensions (give cameras ``(C, 1, 4)`` to project ``(C, N, 3)`` points). Invalid
    points (behind the lens or outside the field of view) still get finite pixel values, so that
    gradients stay finite, but they must not be used.
    """
    _check(model, dist)
    x, y, z = points.unbind(-1)
    f, c = K[..., :2], K[..., 2:]
    theta_max = max_incidence(model, dist, fov_deg)
    rho = _hypot(x, y)
    theta = torch.atan2(rho, z)
    if model == "pinhole":
        z_safe = torch.where(z > _EPS, z, torch.ones_like(z))
        xd, yd = _distort(x / z_safe, y / z_safe, dist)
        m = torch.stack([xd, yd], -1)
        valid = (z > _EPS) & (theta < theta_max)
    elif model == "double_sphere":
        xi, alpha = dist[..., 0], dist[..., 1]
        d1 = torch.sqrt(rho * rho + z * z)
        zeta = xi * d1 + z
        d2 = torch.sqrt(rho * rho + zeta * zeta)
        denom = alpha * d2 + (1 - alpha) * zeta
        valid = (theta <= theta_max) & (denom > _EPS)
        denom = torch.where(valid, denom, torch.ones_like(denom))
        m = torch.stack([x / denom, y / denom], -1)
    else:
        r = _radial_forward(model, theta, dist)
        rho_safe = torch.where(rho > _EPS, rho, torch.ones_like(rho))
        z_safe = torch.where(z.abs() > _EPS, z, torch.ones_like(z))
        scale = torch.where(rho > _EPS, r / rho_safe, 1 / z_safe)  # on the axis r / rho -> 1 / z
        m = torch.stack([x, y], -1) * scale.unsqueeze(-1)
        valid = (theta <= theta_max) & ((rho > _EPS) | (z > 0))
    return m * f + c, valid


@_numpy_friendly
def unproject(
    model: str,
    pixels: torch.Tensor,
    K: torch.Tensor,
    dist: torch.Tensor,
    fov_deg: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels ``(..., 2)`` to unit rays in the camera frame ``(..., 3)`` and a validity mask.

    The inverse of :func:`project`: pixels that no ray inside the field of view maps to are invalid.
    """
    _check(model, dist)
    f, c = K[..., :2], K[..., 2:]
    m = (pixels - c) / f
    mx, my = m.unbind(-1)
    theta_max = max_incidence(model, dist, fov_deg)
    if model == "pinhole":
        x, y, resid = _undistort(mx, my, dist, torch.tan(theta_max))
        ray = torch.stack([x, y, torch.ones_like(x)], -1)
        ray = ray / torch.linalg.norm(ray, dim=-1, keepdim=True)
        valid = (resid < _tol(m) * (1 + torch.hypot(mx, my))) & (torch.acos(torch.clamp(ray[..., 2], -1, 1)) < theta_max)
        return ray, valid
    r = _hypot(mx, my)
    if model == "double_sphere":
        xi, alpha = dist[..., 0], dist[..., 1]
        r2 = r * r
        inside = 1 - (2 * alpha - 1) * r2
        valid = (alpha <= 0.5) | (inside >= 0)
        sq = torch.sqrt(torch.clamp(inside, min=0.0))
        mz = (1 - alpha * alpha * r2) / (alpha * sq + 1 - alpha)
        k = (mz * xi + torch.sqrt(torch.clamp(mz * mz + (1 - xi * xi) * r2, min=0.0))) / (mz * mz + r2)
        ray = torch.stack([k * mx, k * my, k * mz - xi], -1)
        ray = ray / torch.linalg.norm(ray, dim=-1, keepdim=True)
        valid = valid & (torch.acos(torch.clamp(ray[..., 2], -1, 1)) <= theta_max)
        return ray, valid
    theta = _radial_inverse(model, r, dist, theta_max)
    r_back = _radial_forward(model, theta, dist)
    valid = (theta <= theta_max) & ((r_back - r).abs() <= _tol(r) * (1 + r))
    r_safe = torch.where(r > _EPS, r, torch.ones_like(r))
    s = torch.where(r > _EPS, torch.sin(theta) / r_safe, torch.ones_like(r))
    ray = torch.stack([mx * s, my * s, torch.cos(theta)], -1)
    return ray, valid


# ----------------------------------------------------------------------------------------------
# a camera: intrinsics + lens + pose + image size
# ----------------------------------------------------------------------------------------------


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
        return project(self.model, points_cam, _as_like(self.K, points_cam), _as_like(self.dist, points_cam), fov_deg=self.fov_deg)

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
        origins = _as_like(self.center, rays).expand_as(dirs) if isinstance(dirs, torch.Tensor) else np.broadcast_to(self.center, dirs.shape)
        return origins, dirs, valid

    def scaled(self, factor: float) -> "Camera":
        """The same camera at ``factor`` times the resolution (pixel centres stay consistent)."""
        fx, fy, cx, cy = self.K
        K = np.array([fx * factor, fy * factor, (cx + 0.5) * factor - 0.5, (cy + 0.5) * factor - 0.5])
        return Camera(self.model, K, round(self.width * factor), round(self.height * factor), self.dist, self.R, self.t, self.fov_deg, self.name)


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
