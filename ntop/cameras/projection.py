"""The two kernels every stage projects with: camera-frame points to pixels and pixels back to rays,
for any lens of the registry, in torch (batched by broadcasting, differentiable, any device) or numpy
(float64 on the CPU, through the same code)."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import torch

from ntop.cameras.lenses import LENSES, Lens

__all__ = ["MODELS", "DEFAULT_FOV_DEG", "CameraError", "lens", "project", "unproject", "max_incidence"]

#: number of distortion parameters of each model
MODELS: dict[str, int] = {name: len(entry.dist) for name, entry in LENSES.items()}
DEFAULT_FOV_DEG: dict[str, float | None] = {name: entry.default_fov_deg for name, entry in LENSES.items()}


class CameraError(ValueError):
    """A camera description that cannot be used (unknown model, wrong parameter count, bad field)."""


def lens(model: str, dist: Any = None) -> Lens:
    """The registry's entry for ``model``, checking ``dist``'s parameter count when given."""
    if model not in LENSES:
        raise CameraError(f"unknown camera model {model!r}; known: {', '.join(LENSES)}")
    entry = LENSES[model]
    if dist is not None and dist.shape[-1] != len(entry.dist):
        raise CameraError(f"camera model {model!r} takes {len(entry.dist)} distortion parameters, got {dist.shape[-1]}")
    return entry


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


def max_incidence(model: str, dist: torch.Tensor, fov_deg: float | None = None) -> torch.Tensor:
    """Largest valid angle between a ray and the optical axis (radians), shape ``dist.shape[:-1]``.

    The model's own limit (where it stops being one-to-one, or nearly so), capped by ``fov_deg / 2``
    when given.
    """
    if isinstance(dist, np.ndarray):
        return max_incidence(model, torch.as_tensor(dist, dtype=torch.float64), fov_deg).numpy()
    limit = lens(model, dist).limit(dist)
    if fov_deg is not None:
        limit = torch.clamp(limit, max=math.radians(fov_deg) / 2)
    return limit


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
    m, valid = lens(model, dist).forward(points, dist, max_incidence(model, dist, fov_deg))
    return m * K[..., :2] + K[..., 2:], valid


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
    m = (pixels - K[..., 2:]) / K[..., :2]
    return lens(model, dist).inverse(m, dist, max_incidence(model, dist, fov_deg))
