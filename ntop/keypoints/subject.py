"""The subject among other people: of everyone a detector found in every view, keep the one person whose
detections agree across views and over time.

In each frame, every pair of detections in two views proposes a 3D skeleton; a detection in another view
agrees with it when its median joint reprojection error is under ``agree`` times its own size (the
diagonal of its keypoints' box, so the test does not depend on resolution). Proposals that share no
detection are people; people are linked over frames into 3D tracks by their hip centre. The subject is
the track seen by the most views over the most frames (``support``), or the one nearest
``position`` (a rough floor position, metres) when given. Two tracks of near-equal support with no
``position`` is an error, as is no person seen consistently by two views. A single camera has no
geometry: its most present, largest person is kept.

A view where the subject was not found (the detector's crop drifted onto part of him, or never reached
him) is looked at again where the other views' triangulation puts him (``fill_missing_views``), and what
the detector finds there is kept when it agrees with them.

Left and right: a view whose detection fits the other views' triangulation much better with its left and
right joints swapped (a frequent mistake of detectors on people seen from behind) is swapped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ntop.body.joints import COCO17
from ntop.cameras import Camera
from ntop.errors import NtopError
from ntop.settings import settings_from_dict

__all__ = ["SubjectConfig", "PersonTrack", "people_tracks", "choose_subject", "take_chosen", "fill_missing_views"]
__all__ += ["swap_left_right", "SubjectKeypoints", "subject_keypoints"]

#: ``look(view, frame, expected (J, 2) pixels, NaN where unknown)`` -> the detector's joints and confidences there, or None
Look = Callable[[int, int, np.ndarray], tuple[np.ndarray, np.ndarray] | None]

_HIPS = (11, 12)  # COCO-17


def _left_right_swapped() -> np.ndarray:
    order = np.arange(len(COCO17))
    for a, b in COCO17.flip_pairs:
        order[a], order[b] = b, a
    return order


FLIP = _left_right_swapped()  # COCO-17's joints with left and right swapped


@dataclass
class SubjectConfig:
    position: list[float] | None = None  # rough floor position [x, y] of the subject (metres, the capture's world, z up)
    agree: float = 0.08  # reprojection error, as a fraction of the detection's size, under which a view agrees
    min_confidence: float = 0.5  # joints used to judge agreement
    link_m: float = 0.5  # hip-centre distance between frames under which a person is the same
    ambiguity: float = 0.9  # a runner-up with this fraction of the subject's support makes the choice ambiguous
    swap_ratio: float = 0.5  # swap a view's left and right when that leaves this fraction of its error or less

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "keypoints.subject") -> "SubjectConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.position is not None and len(cfg.position) != 2:
            raise NtopError("must be a floor position [x, y] in metres", where, "position")
        return cfg


def _normalised(cams: list[Camera], uv: np.ndarray) -> np.ndarray:
    """Pixels ``(C, ..., 2)`` -> normalised image coordinates through each lens model."""
    out = []
    for cam, x in zip(cams, uv):
        rays = cam.unproject(x.reshape(-1, 2))[0]
        out.append((rays[:, :2] / np.where(np.abs(rays[:, 2:]) > 1e-12, rays[:, 2:], 1e-12)).reshape(x.shape))
    return np.stack(out)


def _dlt(P: np.ndarray, xy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Joints ``(J, 3)`` from projection matrices ``(V, 3, 4)``, normalised points ``(V, J, 2)`` and weights ``(V, J)``."""
    rows = np.concatenate(
        [xy[..., 0:1, None] * P[:, None, 2:3] - P[:, None, 0:1], xy[..., 1:2, None] * P[:, None, 2:3] - P[:, None, 1:2]], 2
    )  # (V, J, 2, 4)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12) * w[..., None, None]
    A = rows.transpose(1, 0, 2, 3).reshape(xy.shape[1], -1, 4)
    X = np.linalg.svd(A)[2][:, -1]
    return X[:, :3] / np.where(np.abs(X[:, 3:]) > 1e-12, X[:, 3:], 1e-12)


def _size(uv: np.ndarray, ok: np.ndarray) -> float:
    if ok.sum() < 2:
        return np.inf
    return float(np.linalg.norm(uv[ok].max(0) - uv[ok].min(0)))


class _Frame:
    """One frame's detections in every view, and the errors of 3D skeletons against them."""

    def __init__(self, cams: list[Camera], uv: np.ndarray, conf: np.ndarray, xy: np.ndarray, cfg: SubjectConfig):
        self.cams, self.uv, self.conf, self.xy, self.cfg = cams, uv, conf, xy, cfg  # (C, P, J, ...)
        self.ok = conf >= cfg.min_confidence
        self.P = np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cams])
        self.present = [(c, p) for c in range(len(cams)) for p in range(uv.shape[1]) if self.ok[c, p].sum() >= 4]

    def agreement(self, c: int, p: int, X: np.ndarray) -> float:
        """:meth:`error` of detection ``p``, or of it with left and right swapped (a detector's frequent
        mistake, mended later by :func:`swap_left_right`), whichever is smaller."""
        return min(self.error(c, p, X), self.error(c, p, X, FLIP))

    def error(self, c: int, p: int, X: np.ndarray, order: np.ndarray | None = None) -> float:
        """Median reprojection error of detection ``p`` in view ``c`` (its joints in ``order``) against
        joints ``X``, over its size."""
        order = np.arange(len(X)) if order is None else order
        uv, valid = self.cams[c].project(X)
        ok = self.ok[c, p][order]
        use = ok & valid & np.isfinite(X).all(1)
        if use.sum() < 3:
            return np.inf
        return float(np.median(np.linalg.norm(uv[use] - self.uv[c, p][order][use], axis=1))) / _size(self.uv[c, p], self.ok[c, p])

    def set(self, c: int, uv: np.ndarray, conf: np.ndarray, xy: np.ndarray) -> None:
        """Replace view ``c``'s only detection (the subject's)."""
        self.uv[c, 0], self.conf[c, 0], self.xy[c, 0] = uv, conf, xy
        self.ok[c, 0] = conf >= self.cfg.min_confidence

    def triangulate(self, assignment: dict[int, int]) -> np.ndarray:
        views = sorted(assignment)
        pick = [assignment[c] for c in views]
        w = np.stack([self.ok[c, p] * self.conf[c, p] for c, p in zip(views, pick)])
        X = _dlt(self.P[views], np.stack([self.xy[c, p] for c, p in zip(views, pick)]), w)
        return np.where(((w > 0).sum(0) >= 2)[:, None], X, np.nan)

    def people(self) -> list[tuple[dict[int, int], np.ndarray, float]]:
        """Consistent people: ``(view -> detection, joints (J, 3), mean error)``, most views first."""
        proposals = []
        for (c1, p1), (c2, p2) in combinations(self.present, 2):
            if c1 == c2:
                continue
            X = self.triangulate({c1: p1, c2: p2})
            if max(self.error(c1, p1, X), self.error(c2, p2, X)) > self.cfg.agree:
                continue
            assignment, errors = {c1: p1, c2: p2}, []
            for c in range(len(self.cams)):
                if c in assignment:
                    continue
                scored = [(self.agreement(c, p, X), p) for cc, p in self.present if cc == c]
                if scored and min(scored)[0] <= self.cfg.agree:
                    errors.append(min(scored)[0])
                    assignment[c] = min(scored)[1]
            proposals.append((assignment, float(np.mean(errors)) if errors else 0.0))
        proposals.sort(key=lambda a: (-len(a[0]), a[1]))
        used: set[tuple[int, int]] = set()
        people = []
        for assignment, err in proposals:
            if used.isdisjoint(assignment.items()):
                used |= set(assignment.items())
                X = self.triangulate(assignment)
                people.append((assignment, X, float(np.mean([self.agreement(c, p, X) for c, p in assignment.items()]))))
        return people


@dataclass
class PersonTrack:
    """One person seen consistently by two or more views, over frames: per frame, which detection of
    each view is theirs, and their hip centre (metres)."""

    frames: list[int]
    assignments: list[dict[int, int]]
    hips: list[np.ndarray]

    @property
    def support(self) -> int:
        return sum(len(a) for a in self.assignments)

    def floor(self) -> np.ndarray:
        return np.nanmedian(np.stack(self.hips), 0)[:2]


def _link(per_frame: list[list[tuple[dict[int, int], np.ndarray, float]]], link_m: float) -> list[PersonTrack]:
    """People of successive frames joined into tracks by their hip centre (nearest first)."""
    tracks: list[PersonTrack] = []
    for t, people in enumerate(per_frame):
        open_tracks = list(tracks)
        for assignment, X, _ in people:
            hip = np.nanmean(X[list(_HIPS)], 0)
            if not np.isfinite(hip).all():
                hip = np.nanmean(X, 0)
            dist = [np.linalg.norm(tr.hips[-1] - hip) if tr.frames[-1] < t else np.inf for tr in open_tracks]
            k = int(np.argmin(dist)) if dist else -1
            if k >= 0 and dist[k] < link_m:
                tr = open_tracks.pop(k)
                tr.frames.append(t), tr.assignments.append(assignment), tr.hips.append(hip)
            else:
                tracks.append(PersonTrack([t], [assignment], [hip]))
    return tracks


def _pick(tracks: list[PersonTrack], cfg: SubjectConfig, where: str) -> PersonTrack:
    if not tracks:
        raise NtopError(
            "no person is seen consistently by two or more cameras in any frame (is the calibration the videos'?)",
            where,
            "keypoints.subject",
        )
    if cfg.position is not None:
        return min(tracks, key=lambda tr: np.linalg.norm(tr.floor() - np.asarray(cfg.position)))
    ranked = sorted(tracks, key=lambda tr: -tr.support)
    if len(ranked) > 1 and ranked[1].support >= cfg.ambiguity * ranked[0].support:
        a, b = ranked[0], ranked[1]
        raise NtopError(
            f"two people are equally consistent across views (floor positions {np.round(a.floor(), 2).tolist()} and "
            f"{np.round(b.floor(), 2).tolist()} m, {a.support} and {b.support} view-frames): name the subject's rough "
            "floor position [x, y]",
            where,
            "keypoints.subject.position",
        )
    return ranked[0]


def _single_view(conf: np.ndarray, uv: np.ndarray, track: np.ndarray, cfg: SubjectConfig) -> np.ndarray:
    """One camera: the detector's track with the greatest summed size x confidence."""
    score: dict[int, float] = {}
    for t, p in zip(*np.nonzero(track[0] >= 0)):
        ok = conf[0, t, p] >= cfg.min_confidence
        score[int(track[0, t, p])] = (
            score.get(int(track[0, t, p]), 0.0) + (_size(uv[0, t, p], ok) if ok.sum() >= 2 else 0.0) * conf[0, t, p].mean()
        )
    chosen = np.full(track.shape[:2], -1)
    if score:
        best = max(score, key=score.get)
        chosen[0] = np.where((track[0] == best).any(1), (track[0] == best).argmax(1), -1)
    return chosen


def people_tracks(cams: list[Camera], uv: np.ndarray, conf: np.ndarray, cfg: SubjectConfig) -> list[PersonTrack]:
    """Everyone two or more views agree on, followed over frames, the most supported first."""
    xy = _normalised(cams, uv)
    per_frame = [_Frame(cams, uv[:, t], conf[:, t], xy[:, t], cfg).people() for t in range(conf.shape[1])]
    return sorted(_link(per_frame, cfg.link_m), key=lambda tr: -tr.support)


def take_chosen(a: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Each view and frame's chosen detection from ``a (C, T, P, ...)``; zeros where none was chosen."""
    C, T = chosen.shape
    rows = a[np.arange(C)[:, None], np.arange(T)[None, :], np.maximum(chosen, 0)]
    return np.where((chosen >= 0).reshape(chosen.shape + (1,) * (rows.ndim - 2)), rows, 0)


def choose_subject(
    cams: list[Camera], uv: np.ndarray, conf: np.ndarray, track: np.ndarray, cfg: SubjectConfig, where: str = ""
) -> tuple[np.ndarray, dict[str, Any]]:
    """Detections ``uv (C, T, P, J, 2)``, ``conf (C, T, P, J)``, per-view ``track (C, T, P)`` ids -> the
    subject's detection per view and frame ``(C, T)`` (-1: not seen) and a report."""
    C, T = conf.shape[:2]
    if C == 1:
        chosen = _single_view(conf, uv, track, cfg)
        if (chosen < 0).all():
            raise NtopError("no person with enough confident keypoints in any frame", where, "keypoints.subject")
        return chosen, {"people": int(len(np.unique(track[track >= 0]))), "frames_with_subject": int((chosen >= 0).sum())}
    tracks = people_tracks(cams, uv, conf, cfg)
    subject = _pick(tracks, cfg, where)
    chosen = np.full((C, T), -1)
    for t, assignment in zip(subject.frames, subject.assignments):
        for c, p in assignment.items():
            chosen[c, t] = p
    report = {
        "people": [
            {"floor_m": np.round(tr.floor(), 3).tolist(), "frames": len(tr.frames), "support": tr.support} for tr in tracks[:8]
        ],
        "subject_floor_m": np.round(subject.floor(), 3).tolist(),
        "frames_with_subject": len(subject.frames),
        "views_per_frame": float(np.mean([len(a) for a in subject.assignments])),
    }
    return chosen, report


def fill_missing_views(
    cams: list[Camera], uv: np.ndarray, conf: np.ndarray, missing: np.ndarray, look: Look, cfg: SubjectConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The subject's ``uv (C, T, J, 2)``, ``conf (C, T, J)`` with the ``missing (C, T)`` views filled by what
    ``look`` finds where two or more other views' triangulation projects, when it agrees with them; also the
    ``(C, T)`` mask of filled views."""
    C = conf.shape[0]
    filled = np.zeros(missing.shape, bool)
    if C < 3:
        return uv, conf, filled
    xy = _normalised(cams, uv[:, :, None])[:, :, 0]
    uv, conf = uv.copy(), conf.copy()
    for c, t in zip(*np.nonzero(missing)):
        frame = _Frame(cams, uv[:, t, None].copy(), conf[:, t, None].copy(), xy[:, t, None].copy(), cfg)
        others = {o: 0 for o in range(C) if o != c and frame.ok[o, 0].sum() >= 4}
        if len(others) < 2:
            continue
        X = frame.triangulate(others)
        expected, valid = cams[c].project(X)
        found = look(int(c), int(t), np.where((valid & np.isfinite(X).all(1))[:, None], expected, np.nan))
        if found is None:
            continue
        frame.set(c, found[0], found[1], _normalised([cams[c]], found[0][None])[0])
        if frame.agreement(c, 0, X) <= cfg.agree:
            uv[c, t], conf[c, t], xy[c, t] = found[0], found[1], frame.xy[c, 0]
            filled[c, t] = True
    return uv, conf, filled


@dataclass
class SubjectKeypoints:
    """The subject's keypoints per view and frame, and how each view-frame got them."""

    uv: np.ndarray  # (C, T, J, 2) pixels; zeros where no view saw him
    conf: np.ndarray  # (C, T, J)
    chosen: np.ndarray  # (C, T) his detection among the candidates, -1: none chosen
    filled: np.ndarray  # (C, T) found again where the other views put him
    swapped: np.ndarray  # (C, T) left and right mended
    report: dict[str, Any]


def subject_keypoints(
    cams: list[Camera], found: dict[str, np.ndarray], look: Look, cfg: SubjectConfig, where: str = ""
) -> SubjectKeypoints:
    """Everyone a detector followed (``found``: ``joints``, ``confidence``, ``track`` per view, frame and
    slot) -> the subject: chosen, looked at again where lost, left and right mended."""
    chosen, report = choose_subject(cams, found["joints"], found["confidence"], found["track"], cfg, where)
    uv, conf = take_chosen(found["joints"], chosen), take_chosen(found["confidence"], chosen)
    uv, conf, filled = fill_missing_views(cams, uv, conf, chosen < 0, look, cfg)
    uv, conf, swapped = swap_left_right(cams, uv, conf, cfg)
    return SubjectKeypoints(uv, conf, chosen, filled, swapped, report)


def swap_left_right(
    cams: list[Camera], uv: np.ndarray, conf: np.ndarray, cfg: SubjectConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The subject's ``uv (C, T, J, 2)``, ``conf (C, T, J)`` with left and right swapped in the views where
    that fits the other views' triangulation far better; also the ``(C, T)`` mask of swapped views."""
    C, T, J = conf.shape
    swapped = np.zeros((C, T), bool)
    if C < 3:
        return uv, conf, swapped
    xy = _normalised(cams, uv[:, :, None])[:, :, 0]
    uv, conf = uv.copy(), conf.copy()
    for t in range(T):
        frame = _Frame(cams, uv[:, t, None].copy(), conf[:, t, None].copy(), xy[:, t, None].copy(), cfg)
        for c in range(C):
            others = {o: 0 for o in range(C) if o != c and frame.ok[o, 0].sum() >= 4}
            if len(others) < 2 or frame.ok[c, 0].sum() < 4:
                continue
            X = frame.triangulate(others)
            if frame.error(c, 0, X, FLIP) > cfg.swap_ratio * frame.error(c, 0, X):
                continue
            uv[c, t], conf[c, t], xy[c, t] = uv[c, t, FLIP], conf[c, t, FLIP], xy[c, t, FLIP]
            frame.set(c, uv[c, t], conf[c, t], xy[c, t])
            swapped[c, t] = True
    return uv, conf, swapped
