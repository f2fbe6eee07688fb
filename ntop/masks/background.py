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
with the noise measured in the frame itself. When the subject's only shadow lies on the floor round the
feet (``underfoot_shadows_only``: the synthetic room, a studio lit from above), that excuse does not
hold where the projected body above its shins is expected (``shadowless``): any change beyond the
chromaticity threshold is the person there (a bare hand over a wooden floor is a darker floor to the
test). In a real room the subject also darkens walls and furniture near a body that is fitted only to a
few pixels, so the rule is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "BgsubConfig",
    "Background",
    "estimate_background",
    "model_background",
    "frame_statistics",
    "subtract",
    "clean_mask",
    "snap_boundary",
    "body_region",
    "segment_frame",
    "ellipse",
    "dilate",
]


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
    region_margin: float = 0.12  # pixels farther than this from the body's box are never person
    underfoot_shadows_only: bool = False  # the subject's shadow lies only round the feet: see segment_frame's shadowless


def ellipse(fraction: float, shape: tuple[int, ...]) -> np.ndarray | None:
    """An elliptic kernel whose diameter is ``fraction`` of the image's shorter side (None when < 2 px)."""
    d = int(round(fraction * min(shape[:2])))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)) if d >= 2 else None


def dilate(mask: np.ndarray, fraction: float, image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Grow by ``fraction`` of the shorter side of the image (``mask`` may be a region of it)."""
    kernel = ellipse(2 * fraction, image_shape or mask.shape)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) if kernel is not None else m).astype(bool)


@dataclass
class Background:
    """One camera's background: the image, and per-channel float planes for the colour test."""

    image: np.ndarray  # (H, W, 3) uint8
    known: np.ndarray  # (H, W) bool: seen uncovered at least once (False: inpainted)

    def __post_init__(self) -> None:
        self.planes = [p.astype(np.float32) for p in cv2.split(self.image)]


Region = tuple[slice, slice]


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
    person = [cv2.dilate(segment_frame(f, first, cfg, p).astype(np.uint8), k) > 0 for f, p in zip(frames, priors)]
    return estimate_background(frames, np.stack(person) | priors)


def _planes(frame: np.ndarray, roi: Region) -> list[np.ndarray]:
    return [p.astype(np.float32) for p in cv2.split(np.ascontiguousarray(frame[roi]))]


def _dot(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def frame_statistics(frame: np.ndarray, bg: Background, step: int = 6) -> tuple[float, float]:
    """The frame's exposure gain against the background (median brightness ratio: the person covers
    a minority of pixels) and its noise sigma, from a sparse grid of pixels."""
    grid = (slice(None, None, step), slice(None, None, step))
    i, b = _planes(frame, grid), [p[grid] for p in bg.planes]
    ib, bb, ii = _dot(i, b), np.maximum(_dot(b, b), 1.0), _dot(i, i)
    a = ib / bb
    gain = float(np.median(a))
    chroma = np.sqrt(np.maximum(ii - ib * a, 0.0))
    return gain, 1.4826 * float(np.median(chroma)) / 1.1774  # median of a Rayleigh (2 dof) -> sigma


def subtract(
    frame: np.ndarray,
    bg: Background,
    cfg: BgsubConfig,
    gain: float,
    sigma: float,
    roi: Region,
    shadowless: np.ndarray | None = None,
) -> np.ndarray:
    """Raw foreground inside ``roi`` (before clean-up), given the frame's gain and noise; ``shadowless``
    (``roi``'s shape) is where a change cannot be a shadow or a highlight."""
    i, b = _planes(frame, roi), [p[roi] for p in bg.planes]
    ib, bb, ii = _dot(i, b), np.maximum(_dot(b, b), 1.0), _dot(i, i)
    a = ib / bb  # brightness ratio
    chroma2 = ii - ib * a  # |I - aB|^2
    t_chroma = max(cfg.chroma_threshold, cfg.noise_factor * sigma)
    t_abs = max(cfg.brightness_threshold, cfg.noise_factor * sigma)
    diff2 = ii - 2 * gain * ib + gain * gain * bb  # |I - gain B|^2
    rel = a / gain
    fg = chroma2 > t_chroma * t_chroma
    fg |= ((rel < cfg.shadow_min) | (rel > cfg.highlight_max)) & (diff2 > t_abs * t_abs)
    if shadowless is not None:
        fg |= shadowless & (diff2 > t_chroma * t_chroma)
    return fg


def body_region(prior: np.ndarray | None, margin: float) -> Region:
    """The box around the projected body grown by ``margin`` (fraction of the shorter side); whole image without one."""
    h, w = prior.shape if prior is not None else (0, 0)
    if prior is None or not prior.any():
        return (slice(None), slice(None))
    rows, cols = np.flatnonzero(prior.any(1)), np.flatnonzero(prior.any(0))
    pad = int(np.ceil(margin * min(h, w)))
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)), slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)))


def segment_frame(
    frame: np.ndarray, bg: Background, cfg: BgsubConfig, prior: np.ndarray | None, shadowless: np.ndarray | None = None
) -> np.ndarray:
    """``bgsub`` on one frame: the colour test, clean-up and boundary snap, computed in the region
    where a person that meets the projected body can be (the whole frame without a body).
    ``shadowless``: the part of the body's silhouette no shadow can be behind, used with
    ``cfg.underfoot_shadows_only`` (see ``subtract``)."""
    gain, sigma = frame_statistics(frame, bg)
    roi = body_region(prior, cfg.region_margin)
    sub_prior = prior[roi] if prior is not None else None
    sub_shadowless = shadowless[roi] if shadowless is not None and cfg.underfoot_shadows_only else None
    fg = clean_mask(subtract(frame, bg, cfg, gain, sigma, roi, sub_shadowless), sub_prior, cfg, frame.shape)
    out = np.zeros(frame.shape[:2], bool)
    out[roi] = snap_boundary(frame[roi], [p[roi] for p in bg.planes], gain, fg)
    return out


def snap_boundary(frame: np.ndarray, bg_planes: list[np.ndarray], gain: float, mask: np.ndarray, window: int = 7) -> np.ndarray:
    """Re-decide the pixels on the mask's edge: foreground where the pixel is closer to the colour of
    the nearby inner foreground than to the background, i.e. where the person covers most of it.
    Codecs and optics blur edges over a pixel; a fixed threshold would grow every outline by one."""
    m = mask.astype(np.uint8)
    k3 = np.ones((3, 3), np.uint8)
    inner = cv2.erode(m, k3)
    band = (cv2.dilate(m, k3) > 0) & (inner == 0)
    if not band.any():
        return mask
    inner_f = inner.astype(np.float32)
    weight = cv2.boxFilter(inner_f, -1, (window, window), normalize=False)
    decide = band & (weight > 0.5)
    ys, xs = np.nonzero(decide)
    d_fg = np.zeros(len(ys), np.float32)
    d_bg = np.zeros(len(ys), np.float32)
    for c, b in enumerate(bg_planes):
        p = frame[..., c].astype(np.float32)
        local = cv2.boxFilter(p * inner_f, -1, (window, window), normalize=False)[ys, xs] / weight[ys, xs]
        d_fg += (p[ys, xs] - local) ** 2
        d_bg += (p[ys, xs] - gain * b[ys, xs]) ** 2
    out = mask.copy()
    out[ys, xs] = d_fg < d_bg
    return out


def clean_mask(
    fg: np.ndarray, prior: np.ndarray | None, cfg: BgsubConfig, image_shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Morphological clean-up; keep the components that meet ``prior`` (the projected SMPL body),
    or the largest one when there is no prior; fill small enclosed holes. ``fg`` may be a region of
    an image of ``image_shape``, which sets the sizes."""
    m = fg.astype(np.uint8)
    shape = image_shape or m.shape
    k_open, k_close = ellipse(cfg.open_size, shape), ellipse(cfg.close_size, shape)
    if k_open is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k_open)
    if k_close is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k_close)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    keep = np.zeros(n, bool)
    if prior is not None:
        d = 2 * int(round(cfg.component_margin * min(shape[:2]))) + 1  # a square grows fastest (separable)
        near = cv2.dilate(prior.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (d, d))) > 0
        keep[np.unique(labels[near & (m > 0)])] = True
        keep[0] = False
    else:
        keep[1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())] = True
    m = keep[labels]
    # holes: background components that do not touch the border and are small
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~m).astype(np.uint8), connectivity=4)
    h, w = m.shape
    x, y, bw, bh, area = (stats[:, k] for k in range(5))
    hole = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= cfg.max_hole * shape[0] * shape[1])
    hole[0] = False
    return m | hole[labels]
