"""Procrustes alignment, batched: calibration checks, PA-MPJPE and the fits' torso starts share it."""

from __future__ import annotations

import numpy as np

__all__ = ["procrustes"]


def procrustes(src: np.ndarray, dst: np.ndarray, scale: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation ``R (..., 3, 3)``, scale ``s (...)`` (1 unless ``scale``) and translation ``t (..., 3)``
    with ``dst ≈ s * src @ R.T + t`` in the least-squares sense, for point sets ``(..., N, 3)``."""
    ms, md = src.mean(-2, keepdims=True), dst.mean(-2, keepdims=True)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(np.swapaxes(b, -1, -2) @ a)
    D = np.ones_like(S)
    D[..., -1] = np.sign(np.linalg.det(U @ Vt))
    R = U @ (D[..., None] * Vt)
    s = (S * D).sum(-1) / (a**2).sum((-1, -2)) if scale else np.ones(S.shape[:-1])
    t = md[..., 0, :] - s[..., None] * np.einsum("...ij,...j->...i", R, ms[..., 0, :])
    return R, s, t
