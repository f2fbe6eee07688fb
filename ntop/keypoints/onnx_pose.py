"""Top-down 2D pose models the user supplies as ONNX files (ViTPose, RTMPose, HRNet exports).

A person box per image (from masks, from a user-supplied ONNX person detector, or from the previous
frame's keypoints) is grown by ``padding`` to the model's aspect ratio and cropped with an affine
warp (mmpose's convention: box centre and scale, no rotation). The model's output is decoded in its
own grid and mapped back through the inverse warp:

- heatmaps ``(N, J, h, w)``: arg-max, then a Taylor step on the log heatmap (DARK) for sub-pixel
  accuracy; a heatmap cell ``i`` is input pixel ``i * input/heatmap`` (mmpose's MSRA codec);
- SimCC ``(N, J, W*k)`` and ``(N, J, H*k)``: arg-max of each 1D code with a parabolic sub-bin
  refinement, divided by the split ratio ``k``.

The confidence is the heatmap maximum (or the smaller of the two SimCC maxima). Detector contract:
input ``(1, 3, H, W)`` float RGB normalised like the pose model, output ``(1, K, 5)`` boxes
``x1, y1, x2, y2, score`` in input pixels (mmdeploy's ``dets``); the best-scoring box is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ntop.errors import NtopError

__all__ = [
    "OnnxPoseConfig",
    "OnnxPose",
    "box_from_mask",
    "box_from_keypoints",
    "crop_transforms",
    "decode_heatmaps",
    "decode_simcc",
]


@dataclass
class OnnxPoseConfig:
    model: str = ""  # path to the pose model (.onnx)
    decoder: str = "auto"  # auto | heatmap | simcc
    simcc_split_ratio: float = 2.0
    padding: float = 1.25  # box growth before cropping (mmpose's default)
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)  # RGB, 0-255
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    box_source: list[str] = field(default_factory=lambda: ["masks"])  # tried in order: masks, detector, previous
    detector: str = ""  # path to the person detector (.onnx), for box_source "detector"
    min_keypoint_confidence: float = 0.3  # for boxes from the previous frame
    batch: int = 32
    device: str = "auto"  # auto | cpu | cuda (onnxruntime's CUDA provider)


def box_from_mask(mask: np.ndarray) -> np.ndarray | None:
    """``x1, y1, x2, y2`` of a mask's foreground, or None when empty."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def box_from_keypoints(uv: np.ndarray, conf: np.ndarray, min_conf: float) -> np.ndarray | None:
    """The extent of confident keypoints, grown by 10 % (joints sit inside the body's outline)."""
    ok = conf >= min_conf
    if ok.sum() < 3:
        return None
    lo, hi = uv[ok].min(0), uv[ok].max(0)
    grow = 0.1 * (hi - lo)
    return np.concatenate([lo - grow, hi + grow])


def crop_transforms(boxes: np.ndarray, size: tuple[int, int], padding: float) -> np.ndarray:
    """Affine ``(N, 2, 3)`` image -> model input for ``x1, y1, x2, y2`` boxes, aspect fixed to ``size = (w, h)``."""
    w, h = size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    bw, bh = (boxes[:, 2] - boxes[:, 0]) * padding, (boxes[:, 3] - boxes[:, 1]) * padding
    bw, bh = np.maximum(bw, bh * w / h), np.maximum(bh, bw * h / w)
    scale = w / np.maximum(bw, 1e-6)  # input pixels per image pixel (same along both axes)
    A = np.zeros((len(boxes), 2, 3))
    A[:, 0, 0] = A[:, 1, 1] = scale
    A[:, :, 2] = np.array([w / 2, h / 2]) - scale[:, None] * centre
    return A


def _invert(A: np.ndarray) -> np.ndarray:
    s = A[:, 0, 0]
    inv = np.zeros_like(A)
    inv[:, 0, 0] = inv[:, 1, 1] = 1 / s
    inv[:, :, 2] = -A[:, :, 2] / s[:, None]
    return inv


def decode_heatmaps(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, J, h, w)`` -> heatmap coordinates ``(N, J, 2)`` refined by a Taylor step on the smoothed
    log heatmap (DARK), and maxima ``(N, J)``."""
    N, J, h, w = hm.shape
    flat = hm.reshape(N, J, -1)
    idx = flat.argmax(-1)
    conf = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    y, x = np.divmod(idx, w)
    blurred = np.stack([cv2.GaussianBlur(m, (5, 5), 0) for m in hm.reshape(N * J, h, w).astype(np.float32)]).reshape(N, J, h, w)
    L = np.log(np.maximum(blurred, 1e-10))
    pad = np.pad(L, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    n, j = np.meshgrid(np.arange(N), np.arange(J), indexing="ij")
    at = lambda dy, dx: pad[n, j, y + 1 + dy, x + 1 + dx]  # noqa: E731
    dx = (at(0, 1) - at(0, -1)) / 2
    dy = (at(1, 0) - at(-1, 0)) / 2
    dxx = at(0, 1) - 2 * at(0, 0) + at(0, -1)
    dyy = at(1, 0) - 2 * at(0, 0) + at(-1, 0)
    dxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4
    det = dxx * dyy - dxy**2
    ok = (det > 1e-12) & (dxx < 0) & (dyy < 0)
    safe = np.where(ok, det, 1.0)
    ox = np.where(ok, -(dyy * dx - dxy * dy) / safe, 0.0)
    oy = np.where(ok, -(dxx * dy - dxy * dx) / safe, 0.0)
    return np.stack([x + np.clip(ox, -1, 1), y + np.clip(oy, -1, 1)], -1), conf


def _peak_1d(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = code.argmax(-1)
    val = np.take_along_axis(code, idx[..., None], -1)[..., 0]
    left = np.take_along_axis(code, np.clip(idx - 1, 0, code.shape[-1] - 1)[..., None], -1)[..., 0]
    right = np.take_along_axis(code, np.clip(idx + 1, 0, code.shape[-1] - 1)[..., None], -1)[..., 0]
    curv = left - 2 * val + right
    off = np.where(curv < -1e-12, (left - right) / (2 * np.where(curv < -1e-12, curv, -1.0)), 0.0)
    return idx + np.clip(off, -0.5, 0.5), val


def decode_simcc(sx: np.ndarray, sy: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """``(N, J, W*k)``, ``(N, J, H*k)`` -> input coordinates ``(N, J, 2)`` and confidences ``(N, J)``."""
    x, cx = _peak_1d(sx)
    y, cy = _peak_1d(sy)
    return np.stack([x, y], -1) / split_ratio, np.minimum(cx, cy)


def _session(path: str, device: str, where: str) -> Any:
    import onnxruntime as ort

    if not Path(path).is_file():
        raise NtopError("ONNX model not found", path, where)
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise NtopError(
            "device cuda asked for, but onnxruntime has no CUDA provider (install onnxruntime-gpu)", field="keypoints.onnx.device"
        )
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available
        else ["CPUExecutionProvider"]
    )
    try:
        return ort.InferenceSession(path, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for unreadable models
        raise NtopError(f"not a loadable ONNX model ({type(e).__name__}: {str(e)[:200]})", path, where) from None


class OnnxPose:
    """A loaded pose model (and optional detector); ``__call__`` maps RGB images + boxes to keypoints."""

    def __init__(self, cfg: OnnxPoseConfig):
        self.cfg = cfg
        self.session = _session(cfg.model, cfg.device, "keypoints.onnx.model")
        inp = self.session.get_inputs()[0]
        h, w = inp.shape[2], inp.shape[3]
        if not (isinstance(h, int) and isinstance(w, int)):
            raise NtopError("the pose model needs a fixed input height and width", cfg.model, "input shape")
        self.size = (w, h)
        self.input_name = inp.name
        outs = self.session.get_outputs()
        decoder = cfg.decoder if cfg.decoder != "auto" else ("heatmap" if len(outs) == 1 else "simcc")
        if decoder not in ("heatmap", "simcc") or (decoder == "simcc" and len(outs) < 2):
            raise NtopError(f"cannot decode {len(outs)} output(s) as {decoder!r}", cfg.model, "outputs")
        self.decoder = decoder
        self.detector = _session(cfg.detector, cfg.device, "keypoints.onnx.detector") if "detector" in cfg.box_source else None

    def _normalise(self, images: np.ndarray) -> np.ndarray:
        x = (images.astype(np.float32) - np.float32(self.cfg.mean)) / np.float32(self.cfg.std)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def detect_person(self, image: np.ndarray) -> np.ndarray | None:
        """Best-scoring person box of an RGB image from the detector model, in image pixels."""
        assert self.detector is not None
        inp = self.detector.get_inputs()[0]
        h, w = inp.shape[2], inp.shape[3]
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        dets = np.asarray(self.detector.run(None, {inp.name: self._normalise(resized[None])})[0]).reshape(-1, 5)
        if not len(dets) or dets[:, 4].max() <= 0:
            return None
        best = dets[dets[:, 4].argmax(), :4]
        return best * np.array([image.shape[1] / w, image.shape[0] / h] * 2)

    def __call__(self, images: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB ``images (N, H, W, 3)`` uint8 and ``boxes (N, 4)`` -> keypoints ``(N, J, 2)`` pixels, confidences ``(N, J)``."""
        A = crop_transforms(boxes, self.size, self.cfg.padding)
        crops = np.stack([cv2.warpAffine(im, a, self.size, flags=cv2.INTER_LINEAR) for im, a in zip(images, A)])
        outs = self.session.run(None, {self.input_name: self._normalise(crops)})
        if self.decoder == "heatmap":
            hm = np.asarray(outs[0], dtype=np.float64)
            grid, conf = decode_heatmaps(hm)
            grid = grid * np.array([self.size[0] / hm.shape[3], self.size[1] / hm.shape[2]])
        else:
            grid, conf = decode_simcc(
                np.asarray(outs[0], np.float64), np.asarray(outs[1], np.float64), self.cfg.simcc_split_ratio
            )
        inv = _invert(A)
        uv = np.einsum("nij,nkj->nki", inv[:, :, :2], grid) + inv[:, None, :, 2]
        return uv, conf
