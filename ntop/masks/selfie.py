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

__all__ = ["SELFIE_MODEL", "SelfieSegmenter", "fuse"]

SELFIE_MODEL = "selfie_segmentation/selfie_segmentation.tflite"
_SIZE = 256
_CROP_GROWTH = 1.3  # the crop around the body's box, so that the segmenter sees the whole person


class SelfieSegmenter:
    """``probability(rgb, prior)``: per-pixel person probability ``(H, W)`` in the crop around ``prior``."""

    def __init__(self) -> None:
        self.path = model_file(SELFIE_MODEL)
        self._local = threading.local()  # an interpreter per thread: they are not thread-safe

    def _interpreter(self):  # noqa: ANN202 - ai_edge_litert's Interpreter
        if not hasattr(self._local, "it"):
            self._local.it = interpreter(self.path)
        return self._local.it

    def probability(self, rgb: np.ndarray, prior: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(prior)
        if not len(xs):
            return np.zeros(prior.shape, np.float32)
        centre = np.array([xs.min() + xs.max(), ys.min() + ys.max()]) / 2
        side = max(xs.max() - xs.min(), ys.max() - ys.min(), 8) * _CROP_GROWTH
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
