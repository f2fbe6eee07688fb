"""``selfie``: MediaPipe's person segmentation (Apache-2.0) on a square crop around the subject's
projected body, run through LiteRT (:mod:`ntop.litert`).

It says where *a* person is, not which one: the crop keeps most of everyone else out, and
``smpl_refine`` afterwards removes what lies beyond the subject's own silhouette. With ``bgsub`` it is
the colour test's veto and backstop: a change in the image that no person explains (a shadow, a moved
object) is dropped; a part of the body that matches the background is kept when the segmenter is sure.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ntop.litert import interpreter, model_file
from ntop.masks.background import ellipse

__all__ = ["SELFIE_MODEL", "SelfieSegmenter", "fuse"]

SELFIE_MODEL = "selfie_segmentation/selfie_segmentation.tflite"
_SIZE = 256
_CROP_GROWTH = 1.3  # the crop around the body's box, so that the segmenter sees the whole person


def _grown_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """``x0, y0, x1, y1`` (inclusive) of ``mask`` dilated by ``margin`` (``background.dilate``'s elliptic
    kernel, clipped to the image), without dilating the whole image."""
    kernel = ellipse(2 * margin, mask.shape)
    d = 0 if kernel is None else kernel.shape[0]
    before, after = (d - 1 - d // 2, d // 2) if d else (0, 0)  # a pixel reaches this far up/left and down/right
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = mask.shape
    return max(cols[0] - before, 0), max(rows[0] - before, 0), min(cols[-1] + after, w - 1), min(rows[-1] + after, h - 1)


class SelfieSegmenter:
    """MediaPipe's selfie segmentation, one LiteRT interpreter per thread."""

    def __init__(self) -> None:
        self.path = model_file(SELFIE_MODEL)
        self._local = threading.local()  # an interpreter per thread: they are not thread-safe

    def _interpreter(self):  # noqa: ANN202 - ai_edge_litert's Interpreter
        if not hasattr(self._local, "it"):
            self._local.it = interpreter(self.path)
        return self._local.it

    def probability(self, rgb: np.ndarray, prior: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Person probability ``(H, W)`` from a square crop around the body's box grown by ``margin``
        (a fraction of the shorter side); zero outside the crop and where there is no body."""
        if not prior.any():
            return np.zeros(prior.shape, np.float32)
        x0, y0, x1, y1 = _grown_box(prior, margin)
        centre = np.array([x0 + x1, y0 + y1]) / 2
        side = max(x1 - x0, y1 - y0, 8) * _CROP_GROWTH
        s = _SIZE / side
        A = np.array([[s, 0, _SIZE / 2 - s * centre[0]], [0, s, _SIZE / 2 - s * centre[1]]])
        crop = cv2.warpAffine(rgb, A, (_SIZE, _SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        it = self._interpreter()
        it.set_tensor(it.get_input_details()[0]["index"], crop.astype(np.float32)[None] / 255.0)
        it.invoke()
        out = it.get_tensor(it.get_output_details()[0]["index"])[0, ..., 0]
        h, w = prior.shape
        return cv2.warpAffine(
            out, A, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
        )


def fuse(person: np.ndarray, changed: np.ndarray | None, sure: float = 0.8, plausible: float = 0.2) -> np.ndarray:
    """Evidence from the segmenter's ``person`` probability and the colour test's ``changed`` mask: where
    the segmenter is sure, or where the image changed and a person is plausible."""
    if changed is None:
        return person >= 0.5
    return (person >= sure) | (changed & (person >= plausible))
