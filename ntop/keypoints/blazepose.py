"""MediaPipe BlazePose (Apache-2.0), run through LiteRT: every person in an image, COCO-17 keypoints each.

Two models: a person detector (224x224 letterboxed input in [-1, 1]; SSD anchors; each detection a box
and four keypoints: hip centre, a point whose distance from it gives the body's size and whose
direction its rotation, then the same two for the upper body) and a landmark model (a rotated square
crop, 256x256 in [0, 1] -> 33 landmarks with visibility and presence, two more that give the next
frame's crop, a pose flag and a person mask). A person is tracked by cutting the next frame's crop from
its own landmarks; the detector finds the people no track covers.

The ``.tflite`` files and their runtime: :mod:`ntop.litert`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import cv2
import numpy as np

from ntop.errors import NtopError
from ntop.litert import interpreter, model_file

__all__ = [
    "BlazePoseConfig",
    "track_people",
    "BLAZEPOSE_TO_COCO17",
    "VARIANTS",
    "tile_windows",
    "ssd_anchors",
    "Roi",
    "Person",
    "BlazePose",
]

#: BlazePose's 33 landmarks -> COCO-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: landmark model variants (``modules/`` path): full ships in the mediapipe wheel, lite and heavy come from npm
VARIANTS = {
    "full": "pose_landmark/pose_landmark_full.tflite",
    "lite": "pose_landmark/pose_landmark_lite.tflite",
    "heavy": "pose_landmark/pose_landmark_heavy.tflite",
}
DETECTOR = "pose_detection/pose_detection.tflite"

_DETECTOR_SIZE = 224
_LANDMARK_SIZE = 256
_ROI_SCALE = 1.25  # MediaPipe grows the body's circle by this much before cropping
_SAME_PERSON = 0.5  # landmark extents overlapping this much (IoU) are one person found twice
_DRIFTED = 0.5  # a tracked skeleton spanning less than this share of its crop is following a part of someone
_PART_OF = 0.7  # a skeleton with this share of its box inside another person's is a part of that person


def tile_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Square windows ``x0, y0, w, h`` two thirds of the short side wide, overlapping by half."""
    side = max(1, round(2 * min(width, height) / 3))
    starts = lambda n: sorted({*range(0, max(1, n - side + 1), max(1, side // 2)), max(0, n - side)})  # noqa: E731
    return [(x, y, min(side, width), min(side, height)) for y in starts(height) for x in starts(width)]


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
class BlazePoseConfig:
    variant: str = "full"  # landmark model: full (in the wheel); lite and heavy where installed
    min_detection: float = 0.5  # detector score for a new person
    min_presence: float = 0.5  # the landmark model's pose flag for keeping a person
    max_people: int = 4  # per image; the most confident kept
    detect_every: int = 5  # frames between detector runs while people are tracked (1: every frame)
    tiled: bool = True  # also look for people in windows of the frame (small people in the background)
    threads: int = 1


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

    @classmethod
    def around(cls, joints: np.ndarray) -> "Roi | None":
        """The crop for a person whose COCO-17 joints ``(17, 2)`` (pixels, NaN where unknown) are expected there:
        centred on the hips, the shoulders up, through the farthest joint grown by 15 % (the top of the head
        and the soles lie beyond the joints). None without both hips and shoulders."""
        hips, shoulders = joints[[11, 12]].mean(0), joints[[5, 6]].mean(0)
        if not (np.isfinite(hips).all() and np.isfinite(shoulders).all()) or np.allclose(hips, shoulders):
            return None
        up = (shoulders - hips) / np.linalg.norm(shoulders - hips)
        reach = np.nanmax(np.linalg.norm(joints - hips, axis=1)) * 1.15
        return cls.from_points(hips, hips + up * reach)

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
    follows: Roi | None = None  # the tracked crop this detection took over (its track goes on)

    def extent(self) -> np.ndarray:
        """``x1, y1, x2, y2`` of the confident landmarks: two crops on one person give the same extent."""
        pts = self.landmarks[self.confidence >= 0.5] if (self.confidence >= 0.5).sum() >= 2 else self.landmarks
        return np.concatenate([pts.min(0), pts.max(0)])

    def span(self) -> float:
        """Diagonal of :meth:`extent` (pixels)."""
        x1, y1, x2, y2 = self.extent()
        return float(np.hypot(x2 - x1, y2 - y1))

    @property
    def drifted(self) -> bool:
        """The crop has slid onto a part of the person: the skeleton fills little of it."""
        return self.span() < _DRIFTED * self.roi.size

    @property
    def coco17(self) -> tuple[np.ndarray, np.ndarray]:
        idx = list(BLAZEPOSE_TO_COCO17)
        return self.landmarks[idx], self.confidence[idx]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -80, 80)))


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by boxes ``x1, y1, x2, y2``."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _inside(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box ``a``'s area inside box ``b``."""
    area = (a[2] - a[0]) * (a[3] - a[1])
    return _intersection(a, b) / area if area > 0 else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class BlazePose:
    """Detector + landmark model. ``__call__(rgb, tracks)`` -> every person found (tracks first)."""

    def __init__(
        self, variant: str = "full", min_detection: float = 0.5, min_presence: float = 0.5, overlap: float = 0.3, threads: int = 1
    ):
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

    def detect(self, rgb: np.ndarray, tiled: bool = False) -> list[Roi]:
        """Person crops, best first, overlapping ones suppressed: from the whole frame and, with ``tiled``,
        from :func:`tile_windows` too (the detector sees a 1920-pixel frame at 224 pixels: a person in the
        background is then a few pixels tall)."""
        found: list[tuple[float, np.ndarray, Roi]] = []
        h, w = rgb.shape[:2]
        for x0, y0, side_w, side_h in [(0, 0, w, h)] + (tile_windows(w, h) if tiled else []):
            found += self._detect_window(rgb[y0 : y0 + side_h, x0 : x0 + side_w], np.array([x0, y0], float))
        found.sort(key=lambda f: -f[0])
        kept: list[tuple[float, np.ndarray, Roi]] = []
        for score, box, roi in found:
            if all(_iou(box, b) <= self.overlap for _, b, _ in kept):
                kept.append((score, box, roi))
        return [roi for _, _, roi in kept]

    def _detect_window(self, rgb: np.ndarray, offset: np.ndarray) -> list[tuple[float, np.ndarray, Roi]]:
        """Detections ``(score, box x1 y1 x2 y2, crop)`` of one window, in the frame's pixels."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        scale = _DETECTOR_SIZE / side
        pad = np.array([(side - w) / 2, (side - h) / 2])  # letterbox: the window centred in a square
        A = np.array([[scale, 0, pad[0] * scale], [0, scale, pad[1] * scale]])
        inp = cv2.warpAffine(
            np.ascontiguousarray(rgb), A, (_DETECTOR_SIZE, _DETECTOR_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        self.detector.set_tensor(self.detector.get_input_details()[0]["index"], inp.astype(np.float32)[None] / 127.5 - 1.0)
        self.detector.invoke()
        raw = self.detector.get_tensor(self._det_boxes)[0]
        score = _sigmoid(self.detector.get_tensor(self._det_scores)[0, :, 0])
        out = []
        for a in np.nonzero(score >= self.min_detection)[0]:
            # model units -> frame pixels
            to_frame = lambda p: (p / _DETECTOR_SIZE + self.anchors[a]) * side - pad + offset  # noqa: E731
            centre, size = to_frame(raw[a, :2]), raw[a, 2:4] / _DETECTOR_SIZE * side
            kp = to_frame(raw[a, 4:8].reshape(2, 2))
            out.append((float(score[a]), np.concatenate([centre - size / 2, centre + size / 2]), Roi.from_points(kp[0], kp[1])))
        return out

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

    def __call__(self, rgb: np.ndarray, tracks: list[Roi] = (), detect: bool = True, tiled: bool = False) -> list[Person]:
        """Every person in ``rgb``: first from the previous frame's crops ``tracks``, then (with ``detect``, or
        on the whole frame when a tracked crop has drifted onto part of someone) from the detector where no
        whole tracked person already is. A detection that holds tracked parts of itself takes over the
        largest one's track: a crop that slid onto an arm keeps a flag of 1 and would follow it for good."""
        people: list[Person] = []
        for roi in tracks:
            p = self.landmarks(rgb, roi)
            if p.flag >= self.min_presence and not self._covered(p.roi.box(), people):
                people.append(p)
        drifted = any(p.drifted for p in people)
        for roi in self.detect(rgb, tiled and detect) if detect or drifted else []:
            if self._covered(roi.box(), [p for p in people if not p.drifted]):
                continue
            p = self.landmarks(rgb, roi)
            if p.flag < self.min_presence or any(self._same_or_part(p, q) for q in people):
                continue
            parts = [q for q in people if _inside(q.extent(), p.extent()) >= _PART_OF]
            if parts:
                p = replace(p, follows=max(parts, key=Person.span).roi)
            people = [q for q in people if not any(q is part for part in parts)] + [p]
        return people

    def look_at(self, rgb: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The landmark model on the crop where a person's COCO-17 joints ``(17, 2)`` are expected (from other
        views): COCO-17 pixels and confidences, or None when it sees no one there."""
        roi = Roi.around(joints)
        if roi is None:
            return None
        p = self.landmarks(rgb, roi)
        return p.coco17 if p.flag >= self.min_presence else None

    @staticmethod
    def _same_or_part(p: Person, q: Person) -> bool:
        """``p`` is ``q`` found again, or a part of ``q`` (a whole tracked person)."""
        same = _iou(p.extent(), q.extent()) > _SAME_PERSON
        return same or (not q.drifted and _inside(p.extent(), q.extent()) >= _PART_OF)

    def _covered(self, box: np.ndarray, people: list[Person]) -> bool:
        return any(_iou(box, p.next_roi.box()) > self.overlap or _iou(box, p.roi.box()) > self.overlap for p in people)


def track_people(frames: Iterable[np.ndarray], cfg: BlazePoseConfig, model: BlazePose | None = None) -> dict[str, np.ndarray]:
    """Every person in a camera's frames, followed from frame to frame: ``joints (T, P, 17, 2)`` COCO-17
    pixels, ``confidence (T, P, 17)``, ``track (T, P)`` (an id per followed person; -1: no one) and
    ``flag (T, P)``, ``P = cfg.max_people``."""
    model = model or BlazePose(cfg.variant, cfg.min_detection, cfg.min_presence, threads=cfg.threads)
    joints, conf, track, flag = [], [], [], []
    alive: list[tuple[int, Roi]] = []
    next_id = 0
    for t, rgb in enumerate(frames):
        people = model(rgb, [roi for _, roi in alive], detect=t % cfg.detect_every == 0 or not alive, tiled=cfg.tiled)
        people = sorted(people, key=lambda p: -p.flag)[: cfg.max_people]
        ids = []
        for p in people:
            known = [i for i, roi in alive if roi is p.roi or roi is p.follows]
            ids.append(known[0] if known else next_id)
            next_id += not known
        alive = [(i, p.next_roi) for i, p in zip(ids, people)]
        J, C, K, F = (
            np.zeros((cfg.max_people, 17, 2)),
            np.zeros((cfg.max_people, 17)),
            np.full(cfg.max_people, -1),
            np.zeros(cfg.max_people),
        )
        for k, (i, p) in enumerate(zip(ids, people)):
            J[k], C[k] = p.coco17
            K[k], F[k] = i, p.flag
        joints.append(J), conf.append(C), track.append(K), flag.append(F)
    return {"joints": np.array(joints), "confidence": np.array(conf), "track": np.array(track), "flag": np.array(flag)}
