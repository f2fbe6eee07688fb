"""Per-frame arrays with holes: one vectorised gap filler for triangulated joints, fitted bodies and
monocular starts alike."""

from __future__ import annotations

import numpy as np

__all__ = ["fill_gaps"]


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation of NaNs along axis 0 of ``(T, ...)``, holding the ends; all-NaN tracks stay NaN."""
    T = len(x)
    t = np.arange(T).reshape(-1, *([1] * (x.ndim - 1)))
    ok = ~np.isnan(x)
    prev = np.maximum.accumulate(np.where(ok, t, -1), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(ok, t, T), 0), axis=0), 0)
    has_prev, has_next = prev >= 0, nxt < T
    x_prev = np.take_along_axis(x, np.clip(prev, 0, T - 1), 0)
    x_next = np.take_along_axis(x, np.clip(nxt, 0, T - 1), 0)
    frac = np.where(has_prev & has_next, (t - prev) / np.maximum(nxt - prev, 1), 0.0)
    both = x_prev + frac * (x_next - x_prev)
    return np.where(ok, x, np.where(has_prev & has_next, both, np.where(has_prev, x_prev, x_next)))
