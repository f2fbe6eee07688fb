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

__all__ = ["refine"]


def refine(
    frame: np.ndarray, prior: np.ndarray, evidence: np.ndarray | None, margin: float, core: float, iterations: int = 3
) -> np.ndarray:
    """The refined ``(H, W) bool`` mask of an RGB frame, from the SMPL silhouette ``prior``."""
    if not prior.any():  # the body is out of view: nothing of the person can be there
        return np.zeros_like(prior)
    outer, inner = dilate(prior, margin), erode(prior, core)
    if evidence is not None:
        return (evidence & outer) | inner
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
