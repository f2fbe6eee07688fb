"""Background subtraction for a static camera: a background model, a shadow- and flicker-tolerant
colour test, and clean-up that keeps only the person.

The background is the per-pixel temporal median of sampled frames, taking at every pixel only the
frames where the (dilated) projected SMPL body does not cover it, so a subject who never leaves
the spot does not burn into the model; pixels the body covers in every frame are inpainted. A
given empty-background image replaces the median when the user has one.

The colour test follows the brightness/chromaticity split of Horprasert et al. (1999): a pixel ``I``
is compared with the background ``B`` after a per-frame gain (exposure flicker) as ``I = a B + d``.
A soft shadow only darkens (``a`` between ``shadow_min`` and 1, small ``d``); the person changes
the chromaticity ``|d|`` or the brightness beyond what shadows and flicker do. Thresholds scale
with the noise measured in the frame itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["BgsubConfig", "Background", "estimate_background", "subtract", "clean_mask", "ellipse", "dilate"]


@dataclass
class BgsubConfig:
    """Settings of ``bgsub`` (8-bit levels; sizes as fractions of the image's shorter side)."""

    background_frames: int = 60  # frames sampled for the temporal median
    exclude_dilation: float = 0.04  # grow the SMPL body by this much before excluding it from the median
    chroma_threshold: float = 18.0  # minimum colour distortion |d| that marks the person
    brightness_threshold: float = 36.0  # minimum absolute change that a brightness-only test may flag
    noise_factor: float = 4.0  # thresholds are at least this many noise sigmas
    shadow_min: float = 0.45  # darkest brightness ratio a shadow can make
    highlight_max: float = 1.2  # brightest ratio the background can reach
    open_size: float = 0.0  # opening kernel (0: none): removes speckles in noisy footage
    close_size: float = 0.0  # closing kernel (0: none): joins parts split by low contrast
    max_hole: float = 0.0005  # enclosed holes smaller than this fraction of the image are filled
    component_margin: float = 0.03  # a kept component must meet the SMPL body grown by this much


def ellipse(fraction: float, shape: tuple[int, ...]) -> np.ndarray | None:
    """An elliptic kernel whose diameter is ``fraction`` of the image's shorter side (None when < 2 px)."""
    d = int(round(fraction * min(shape[:2])))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)) if d >= 2 else None


def dilate(mask: np.ndarray, fraction: float) -> np.ndarray:
    kernel = ellipse(2 * fraction, mask.shape)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) if kernel is not None else m).astype(bool)


@dataclass
class Background:
    """One camera's background: the image, and precomputed terms of the colour test."""

    image: np.ndarray  # (H, W, 3) uint8
    known: np.ndarray  # (H, W) bool: seen uncovered at least once (False: inpainted)

    def __post_init__(self) -> None:
        self._b = self.image.astype(np.float32)
        self._bb = np.maximum((self._b * self._b).sum(-1), 1.0)
        self._grid = (slice(None, None, 4), slice(None, None, 4))


def estimate_background(frames: np.ndarray, exclude: np.ndarray | None, min_count: int = 2) -> Background:
    """Temporal median of ``frames (N, H, W, 3)`` over the frames where ``exclude (N, H, W)`` is False."""
    n = len(frames)
    if exclude is None:
        return Background(np.median(frames, axis=0).astype(np.uint8), np.ones(frames.shape[1:3], bool))
    stack = frames.astype(np.uint16)
    stack[exclude] = 65535  # sorts after every real value
    stack.sort(axis=0)
    count = n - exclude.sum(0)
    pick = np.clip((count - 1) // 2, 0, n - 1)
    image = np.take_along_axis(stack, pick[None, ..., None].repeat(3, -1), 0)[0]
    known = count >= min_count
    image = np.where(known[..., None], image, 0).astype(np.uint8)
    if not known.all():
        image = cv2.inpaint(image, (~known).astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return Background(image, known)


def model_background(frames: np.ndarray, priors: np.ndarray | None, cfg: BgsubConfig) -> Background:
    """The background of sampled ``frames (N, H, W, 3)`` given the projected bodies ``priors (N, H, W)``:
    a median excluding the generously grown bodies, then a second median excluding only what the
    first one segments (grown by two pixels), which recovers the pixels the margin hid needlessly."""
    if priors is None:
        return estimate_background(frames, None)
    first = estimate_background(frames, np.stack([dilate(p, cfg.exclude_dilation) for p in priors]))
    k = np.ones((5, 5), np.uint8)
    person = [cv2.dilate(clean_mask(subtract(f, first, cfg)[0], p, cfg).astype(np.uint8), k) > 0 for f, p in zip(frames, priors)]
    return estimate_background(frames, np.stack(person) | priors)


def subtract(frame: np.ndarray, bg: Background, cfg: BgsubConfig) -> tuple[np.ndarray, float]:
    """Raw foreground ``(H, W) bool`` of an RGB ``uint8`` frame (before clean-up), and the frame's gain."""
    i = frame.astype(np.float32)
    b, bb = bg._b, bg._bb
    ib = (i * b).sum(-1)
    ii = (i * i).sum(-1)
    a = ib / bb  # brightness ratio
    # exposure flicker: the frame's gain is the median ratio (the person covers a minority of pixels)
    gain = float(np.median(a[bg._grid]))
    chroma2 = np.maximum(ii - ib * a, 0.0)  # |I - aB|^2
    sigma = 1.4826 * float(np.median(np.sqrt(chroma2[bg._grid]))) / 1.1774  # median of a Rayleigh(2 dof) -> sigma
    t_chroma = max(cfg.chroma_threshold, cfg.noise_factor * sigma)
    t_abs = max(cfg.brightness_threshold, cfg.noise_factor * sigma)
    diff2 = ii - 2 * gain * ib + gain * gain * bb  # |I - gain B|^2
    rel = a / gain
    fg = chroma2 > t_chroma * t_chroma
    fg |= ((rel < cfg.shadow_min) | (rel > cfg.highlight_max)) & (diff2 > t_abs * t_abs)
    return fg, gain


def snap_boundary(frame: np.ndarray, bg: Background, gain: float, mask: np.ndarray, window: int = 7) -> np.ndarray:
    """Re-decide the pixels on the mask's edge: foreground where the pixel is closer to the colour of
    the nearby inner foreground than to the background, i.e. where the person covers most of it.
    Codecs and optics blur edges over a pixel; a fixed threshold would grow every outline by one."""
    m = mask.astype(np.uint8)
    k3 = np.ones((3, 3), np.uint8)
    inner = cv2.erode(m, k3)
    band = (cv2.dilate(m, k3) > 0) & (inner == 0)
    if not band.any():
        return mask
    i = frame.astype(np.float32)
    weight = cv2.boxFilter(inner.astype(np.float32), -1, (window, window), normalize=False)
    fg_colour = cv2.boxFilter(i * inner[..., None], -1, (window, window), normalize=False) / np.maximum(weight, 1e-6)[..., None]
    d_fg = ((i - fg_colour) ** 2).sum(-1)
    d_bg = ((i - gain * bg._b) ** 2).sum(-1)
    out = mask.copy()
    decide = band & (weight > 0)
    out[decide] = d_fg[decide] < d_bg[decide]
    return out


def clean_mask(fg: np.ndarray, prior: np.ndarray | None, cfg: BgsubConfig) -> np.ndarray:
    """Morphological clean-up; keep the components that meet ``prior`` (the projected SMPL body),
    or the largest one when there is no prior; fill small enclosed holes."""
    m = fg.astype(np.uint8)
    k_open, k_close = ellipse(cfg.open_size, m.shape), ellipse(cfg.close_size, m.shape)
    if k_open is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k_open)
    if k_close is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k_close)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    keep = np.zeros(n, bool)
    if prior is not None:
        near = dilate(prior, cfg.component_margin)
        keep[np.unique(labels[near & (m > 0)])] = True
        keep[0] = False
    else:
        keep[1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())] = True
    m = keep[labels]
    # holes: background components that do not touch the border and are small
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~m).astype(np.uint8), connectivity=4)
    h, w = m.shape
    x, y, bw, bh, area = (stats[:, k] for k in range(5))
    hole = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= cfg.max_hole * h * w)
    hole[0] = False
    return m | hole[labels]
