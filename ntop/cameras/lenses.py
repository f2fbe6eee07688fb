"""The lens registry: one entry per camera model, holding everything ntop knows about that lens.

An entry maps camera-frame points to normalised image coordinates (focal length 1, principal point
0) and back to unit rays, and says how far from the optical axis the model stays one-to-one, its
distortion parameters, its default field of view and whether it can be a virtual fisheye camera.
Adding a lens model is adding one entry to :data:`LENSES` (and its tests); the projection kernels,
``Camera``, the virtual rigs and the config check read the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Lens", "LENSES", "FISHEYE_MODELS", "hypot", "tolerance"]

Tensor = torch.Tensor
_EPS = 1e-12
_NEWTON_STEPS = 30
_MIN_SLOPE = 0.1  # d(image radius)/d(angle or radius) below which the field of view ends


def hypot(a: Tensor, b: Tensor) -> Tensor:
    """sqrt(a^2 + b^2) with a finite gradient at 0 (torch.hypot's is NaN there: the optical axis)."""
    return torch.sqrt(torch.clamp(a * a + b * b, min=1e-30))


def tolerance(x: Tensor) -> float:
    """Residual accepted from an iterative inverse: tight in float64, loose enough for float32."""
    return 1e-9 if x.dtype == torch.float64 else 1e-4


@dataclass(frozen=True)
class Lens:
    """One camera model. ``dist`` broadcasts against the points' leading dimensions.

    ``forward(points (..., 3), dist, theta_max) -> (m (..., 2), valid)``: normalised image coordinates;
    invalid points still get finite values, so that gradients stay finite.
    ``inverse(m (..., 2), dist, theta_max) -> (rays (..., 3), valid)``: unit rays.
    ``limit(dist) -> theta (...)``: the largest incidence (radians) where the model is one-to-one.
    """

    dist: tuple[str, ...]  # names of the distortion parameters, in order
    default_fov_deg: float | None
    fisheye: bool  # may be a virtual top-view camera (views.model)
    mapping: str  # the image radius r for incidence theta, for the docs
    forward: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
    inverse: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
    limit: Callable[[Tensor], Tensor]


def _first_turn(fn: Callable[[Tensor], Tensor], hi: float, like: Tensor, n: int = 4097) -> Tensor:
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


def _constant_limit(angle: float) -> Callable[[Tensor], Tensor]:
    return lambda dist: torch.full(dist.shape[:-1], angle, dtype=dist.dtype, device=dist.device)


# ----------------------------------------------------------------------------------------------
# radial lenses: r = g(theta), the normalised image radius of a ray at incidence theta
# ----------------------------------------------------------------------------------------------


def _radial_forward(g: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]:
    def forward(points: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
        x, y, z = points.unbind(-1)
        rho = hypot(x, y)
        theta = torch.atan2(rho, z)
        r = g(theta, dist)
        rho_safe = torch.where(rho > _EPS, rho, torch.ones_like(rho))
        z_safe = torch.where(z.abs() > _EPS, z, torch.ones_like(z))
        scale = torch.where(rho > _EPS, r / rho_safe, 1 / z_safe)  # on the axis r / rho -> 1 / z
        valid = (theta <= theta_max) & ((rho > _EPS) | (z > 0))
        return torch.stack([x, y], -1) * scale.unsqueeze(-1), valid

    return forward


def _radial_inverse(
    g: Callable[[Tensor, Tensor], Tensor], g_inv: Callable[[Tensor, Tensor, Tensor], Tensor]
) -> Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]:
    def inverse(m: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
        mx, my = m.unbind(-1)
        r = hypot(mx, my)
        theta = g_inv(r, dist, theta_max)
        valid = (theta <= theta_max) & ((g(theta, dist) - r).abs() <= tolerance(r) * (1 + r))
        r_safe = torch.where(r > _EPS, r, torch.ones_like(r))
        s = torch.where(r > _EPS, torch.sin(theta) / r_safe, torch.ones_like(r))
        return torch.stack([mx * s, my * s, torch.cos(theta)], -1), valid

    return inverse


def _radial(
    mapping: str,
    g: Callable[[Tensor, Tensor], Tensor],
    g_inv: Callable[[Tensor, Tensor, Tensor], Tensor],
    limit: Callable[[Tensor], Tensor],
    dist: tuple[str, ...] = (),
) -> Lens:
    return Lens(dist, 180.0, True, mapping, _radial_forward(g), _radial_inverse(g, g_inv), limit)


def _kb_poly(theta: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """Kannala-Brandt r(theta) and dr/dtheta."""
    t2 = theta * theta
    k1, k2, k3, k4 = (d[..., i] for i in range(4))
    poly = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    dpoly = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta * poly, dpoly


def _kb_inverse(r: Tensor, d: Tensor, theta_max: Tensor) -> Tensor:
    theta = torch.minimum(r, theta_max)  # Newton from the equidistant guess, kept inside the monotone range
    for _ in range(_NEWTON_STEPS):
        g, dg = _kb_poly(theta, d)
        theta = torch.clamp(theta - (g - r) / dg, min=0.0)
        theta = torch.minimum(theta, theta_max)
    return theta


# ----------------------------------------------------------------------------------------------
# pinhole with OpenCV's five-parameter distortion
# ----------------------------------------------------------------------------------------------


def _distort(x: Tensor, y: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def _undistort_radius(rd: Tensor, d: Tensor, r_max: Tensor) -> Tensor:
    """The undistorted radius of the radial part, by bisection over the monotone range ``[0, r_max]``
    (robust even where the polynomial is steep)."""
    k1, k2, k3 = d[..., 0], d[..., 1], d[..., 4]
    lo, hi = torch.zeros_like(rd), torch.broadcast_to(r_max, rd.shape).clone()
    for _ in range(60):
        mid = (lo + hi) / 2
        m2 = mid * mid
        above = mid * (1 + m2 * (k1 + m2 * (k2 + m2 * k3))) > rd
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    return (lo + hi) / 2


def _undistort(xd: Tensor, yd: Tensor, d: Tensor, r_max: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Invert :func:`_distort`: the radial part first, then 2D Newton steps absorb the tangential
    terms. Returns x, y and the final residual."""
    k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
    rd = hypot(xd, yd)
    ru = _undistort_radius(rd, d, r_max)
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


def _pinhole_forward(points: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
    x, y, z = points.unbind(-1)
    z_safe = torch.where(z > _EPS, z, torch.ones_like(z))
    xd, yd = _distort(x / z_safe, y / z_safe, dist)
    valid = (z > _EPS) & (torch.atan2(hypot(x, y), z) < theta_max)
    return torch.stack([xd, yd], -1), valid


def _pinhole_inverse(m: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
    mx, my = m.unbind(-1)
    x, y, resid = _undistort(mx, my, dist, torch.tan(theta_max))
    ray = torch.stack([x, y, torch.ones_like(x)], -1)
    ray = ray / torch.linalg.norm(ray, dim=-1, keepdim=True)
    valid = (resid < tolerance(m) * (1 + torch.hypot(mx, my))) & (torch.acos(torch.clamp(ray[..., 2], -1, 1)) < theta_max)
    return ray, valid


def _pinhole_limit(dist: Tensor) -> Tensor:
    k1, k2, k3 = (dist[..., i].unsqueeze(-1) for i in (0, 1, 4))
    # d/dr of r * (1 + k1 r^2 + k2 r^4 + k3 r^6), sampled up to r = tan(89.9 deg)
    slope = lambda r: 1 + r * r * (3 * k1 + r * r * (5 * k2 + r * r * 7 * k3))  # noqa: E731
    return torch.atan(_first_turn(slope, math.tan(math.radians(89.9)), dist, n=20001))


# ----------------------------------------------------------------------------------------------
# double sphere (Usenko, Demmel & Cremers 2018)
# ----------------------------------------------------------------------------------------------


def _double_sphere_forward(points: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
    x, y, z = points.unbind(-1)
    xi, alpha = dist[..., 0], dist[..., 1]
    rho = hypot(x, y)
    d1 = torch.sqrt(rho * rho + z * z)
    zeta = xi * d1 + z
    d2 = torch.sqrt(rho * rho + zeta * zeta)
    denom = alpha * d2 + (1 - alpha) * zeta
    valid = (torch.atan2(rho, z) <= theta_max) & (denom > _EPS)
    denom = torch.where(valid, denom, torch.ones_like(denom))
    return torch.stack([x / denom, y / denom], -1), valid


def _double_sphere_inverse(m: Tensor, dist: Tensor, theta_max: Tensor) -> tuple[Tensor, Tensor]:
    mx, my = m.unbind(-1)
    xi, alpha = dist[..., 0], dist[..., 1]
    r = hypot(mx, my)
    r2 = r * r
    inside = 1 - (2 * alpha - 1) * r2
    sq = torch.sqrt(torch.clamp(inside, min=0.0))
    mz = (1 - alpha * alpha * r2) / (alpha * sq + 1 - alpha)
    k = (mz * xi + torch.sqrt(torch.clamp(mz * mz + (1 - xi * xi) * r2, min=0.0))) / (mz * mz + r2)
    ray = torch.stack([k * mx, k * my, k * mz - xi], -1)
    ray = ray / torch.linalg.norm(ray, dim=-1, keepdim=True)
    valid = ((alpha <= 0.5) | (inside >= 0)) & (torch.acos(torch.clamp(ray[..., 2], -1, 1)) <= theta_max)
    return ray, valid


def _double_sphere_limit(dist: Tensor) -> Tensor:
    xi, alpha = dist[..., 0], dist[..., 1]
    w1 = torch.where(alpha <= 0.5, alpha / (1 - alpha), (1 - alpha) / alpha)
    w2 = (w1 + xi) / torch.sqrt(2 * w1 * xi + xi * xi + 1)
    return torch.acos(torch.clamp(-w2, -1.0, 1.0))  # z > -w2 * |p|


# ----------------------------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------------------------

#: every camera model ntop knows, by its config name
LENSES: dict[str, Lens] = {
    "pinhole": Lens(
        ("k1", "k2", "p1", "p2", "k3"),
        None,
        False,
        "OpenCV projectPoints (tan theta, then distortion)",
        _pinhole_forward,
        _pinhole_inverse,
        _pinhole_limit,
    ),
    "opencv_fisheye": _radial(
        "Kannala-Brandt, cv2.fisheye",
        lambda theta, d: _kb_poly(theta, d)[0],
        _kb_inverse,
        lambda d: _first_turn(lambda th: _kb_poly(th, d.unsqueeze(-2))[1], math.pi, d),
        dist=("k1", "k2", "k3", "k4"),
    ),
    "equidistant": _radial(
        "f theta (NToP's ideal fisheye)", lambda theta, d: theta, lambda r, d, tmax: r, _constant_limit(math.pi)
    ),
    "equisolid": _radial(
        "2 f sin(theta / 2)",
        lambda theta, d: 2 * torch.sin(theta / 2),
        lambda r, d, tmax: 2 * torch.asin(torch.clamp(r / 2, max=1.0)),
        _constant_limit(math.pi),
    ),
    "stereographic": _radial(
        "2 f tan(theta / 2)",
        lambda theta, d: 2 * torch.tan(theta / 2),
        lambda r, d, tmax: 2 * torch.atan(r / 2),
        _constant_limit(math.pi),
    ),
    "orthographic": _radial(
        "f sin(theta)",
        lambda theta, d: torch.sin(theta),
        lambda r, d, tmax: torch.asin(torch.clamp(r, max=1.0)),
        _constant_limit(math.pi / 2),
    ),
    "double_sphere": Lens(
        ("xi", "alpha"), None, True, "Usenko et al. 2018", _double_sphere_forward, _double_sphere_inverse, _double_sphere_limit
    ),
}

#: the models a virtual top-view rig may use
FISHEYE_MODELS: tuple[str, ...] = tuple(name for name, lens in LENSES.items() if lens.fisheye)
