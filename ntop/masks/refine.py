"""``smpl_refine``: the projected SMPL body as a prior, with the boundary decided by the image.

Pixels deep inside the silhouette (eroded by ``core``) are person whatever the colours say, which
recovers body parts that match the background; pixels beyond the silhouette grown by ``margin``
are background, which removes shadows and clutter attached to the person. The band in between
(loose clothing, hair, fitting error) follows the evidence: the other method's mask when there is
one, otherwise GrabCut with colour models learnt from the frame and seeded by the prior.
"""

from __future__ import annotations

import cv2
import numpy as np

from ntop.masks.background import dilate
from ntop.masks.prior import erode

__all__ = ["refine", "outline_agreement"]


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0


def _near_outline(mask: np.ndarray, pixels: float = 1.0) -> np.ndarray:
    """Pixels within ``pixels`` of ``mask``'s outline."""
    return cv2.distanceTransform((~_outline(mask)).astype(np.uint8), cv2.DIST_L2, 3) <= pixels


def outline_agreement(prior: np.ndarray, evidence: np.ndarray) -> float:
    """The fraction of the prior's outline that lies within a pixel of the evidence's (1 without a prior)."""
    line = _outline(prior)
    return float(_near_outline(evidence)[line].mean()) if line.any() else 1.0


def refine(
    frame: np.ndarray,
    prior: np.ndarray,
    evidence: np.ndarray | None,
    margin: float,
    core: float,
    iterations: int = 3,
    exact_prior: bool = False,
) -> np.ndarray:
    """The refined ``(H, W) bool`` mask of an RGB frame, from the SMPL silhouette ``prior``. With
    ``exact_prior`` (the body is known to the pixel, as a capture's true bodies are), the prior's own
    pixels next to the evidence's outline are person too: mixed boundary pixels, which a colour test
    drops half the time, follow the body instead."""
    if not prior.any():  # the body is out of view: nothing of the person can be there
        return np.zeros_like(prior)
    outer, inner = dilate(prior, margin), erode(prior, core)
    if evidence is not None:
        mask = (evidence & outer) | inner
        return mask | (prior & _near_outline(evidence)) if exact_prior else mask
    trimap = np.full(prior.shape, cv2.GC_BGD, np.uint8)
    trimap[outer] = cv2.GC_PR_BGD
    trimap[prior] = cv2.GC_PR_FGD
    trimap[inner] = cv2.GC_FGD
    ys, xs = np.nonzero(outer)
    pad = max(4, int(margin * min(prior.shape)))  # a frame of sure background for the colour model
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, prior.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, prior.shape[1])
    sub = np.ascontiguousarray(trimap[y0:y1, x0:x1])
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1]), sub, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    out = np.zeros(prior.shape, bool)
    out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
    return out
