"""``smpl_refine``: the projected SMPL body as a prior, with the boundary decided by the image.

Pixels beyond the silhouette grown by ``margin`` are background, which removes shadows and clutter
attached to the person. Nearer, where the other method's mask (the evidence) and the silhouette
agree, they decide; where they disagree, GrabCut does, with colour models learnt from the frame. A
fitted body is a few pixels off, so neither may overrule the other there: a body core over the floor
(a foot fitted beside the real one) would stay person, and background that the median got wrong (the
gap between an arm and the torso of a subject who stood still) would stay foreground. Without
evidence, GrabCut is seeded by the silhouette alone, its core (shrunk by ``core``) surely person.
Only a body known to the pixel (a capture's true one) is kept as it is.
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
    frame: np.ndarray | None,
    prior: np.ndarray,
    evidence: np.ndarray | None,
    margin: float,
    core: float,
    iterations: int = 3,
    exact_prior: bool = False,
) -> np.ndarray:
    """The refined ``(H, W) bool`` mask of an RGB frame, from the SMPL silhouette ``prior``. With
    ``exact_prior`` (the body is known to the pixel, as a capture's true bodies are), the evidence is
    kept inside the grown silhouette, the core is person, and the prior's own pixels next to the
    evidence's outline are person too: mixed boundary pixels, which a colour test drops half the
    time, follow the body instead. Only that case needs no ``frame``."""
    if not prior.any():  # the body is out of view: nothing of the person can be there
        return np.zeros_like(prior)
    outer, inner = dilate(prior, margin), erode(prior, core)
    if exact_prior and evidence is not None:
        return (evidence & outer) | inner | (prior & _near_outline(evidence))
    if frame is None:
        raise ValueError("refining against a fitted body needs the frame")
    trimap = np.full(prior.shape, cv2.GC_BGD, np.uint8)
    if evidence is None:
        trimap[outer] = cv2.GC_PR_BGD
        trimap[prior] = cv2.GC_PR_FGD
        trimap[inner] = cv2.GC_FGD
    else:  # where neither says person it stays background
        trimap[outer & (evidence ^ prior)] = cv2.GC_PR_FGD
        trimap[evidence & prior] = cv2.GC_FGD
    return _grabcut(frame, trimap, int(margin * min(prior.shape)), iterations)


def _grabcut(frame: np.ndarray, trimap: np.ndarray, pad: int, iterations: int) -> np.ndarray:
    """GrabCut on the box of ``trimap``'s undecided pixels, grown by ``pad`` (at least 4 px) so that its
    colour model of the background has a frame of sure background pixels."""
    ys, xs = np.nonzero(trimap != cv2.GC_BGD)
    pad = max(4, pad)
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, trimap.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, trimap.shape[1])
    sub = np.ascontiguousarray(trimap[y0:y1, x0:x1])
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # its colour models start from k-means on this thread's generator: same masks however frames are shared out
    cv2.grabCut(np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1]), sub, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    out = np.zeros(trimap.shape, bool)
    out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
    return out
