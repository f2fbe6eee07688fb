"""The subject among other people, on skeletons projected into a synthetic rig (no detector needed)."""

import numpy as np
import pytest

from ntop.body.joints import COCO17
from ntop.cameras import Camera, look_at
from ntop.errors import NtopError
from ntop.keypoints.subject import SubjectConfig, choose_subject, fill_missing_views, swap_left_right, take_chosen

# a standing person, COCO-17, metres, z up, facing +y, hips 0.9 m above the floor at the origin
STANDING = np.array([
    [0, 0.10, 1.62], [-0.03, 0.08, 1.66], [0.03, 0.08, 1.66], [-0.07, 0.02, 1.64], [0.07, 0.02, 1.64],
    [-0.19, 0, 1.42], [0.19, 0, 1.42], [-0.24, 0.02, 1.14], [0.24, 0.02, 1.14], [-0.26, 0.08, 0.88], [0.26, 0.08, 0.88],
    [-0.10, 0, 0.92], [0.10, 0, 0.92], [-0.11, 0.03, 0.50], [0.11, 0.03, 0.50], [-0.11, 0, 0.08], [0.11, 0, 0.08],
])  # fmt: skip
T = 12


def _rig(n: int = 4) -> list[Camera]:
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n + 0.3
        R, t = look_at(np.array([3 * np.cos(a), 3 * np.sin(a), 1.8]), np.array([0, 0, 1.0]))
        cams.append(Camera("pinhole", [250, 250, 320, 240], 640, 480, np.zeros(5), R, t, name=f"cam{i:02d}"))
    return cams


def _walk(start, step) -> np.ndarray:
    return np.stack([STANDING + np.array([*start, 0]) + t * np.array([*step, 0]) for t in range(T)])  # (T, 17, 3)


def _detections(cams, people, seen, rng, noise=1.0):
    """Each person's projection per view and frame, in a shuffled slot; ``seen[k][c]`` says in which views."""
    C, P = len(cams), 3
    uv, conf, track = np.zeros((C, T, P, 17, 2)), np.zeros((C, T, P, 17)), np.full((C, T, P), -1)
    truth = np.full((len(people), C, T), -1)
    for c, cam in enumerate(cams):
        for t in range(T):
            slots = rng.permutation(P)
            for k, body in enumerate(people):
                if not seen[k][c]:
                    continue
                s = slots[k]
                px, valid = cam.project(body[t])
                assert valid.all() and cam.in_image(px).all()
                uv[c, t, s] = px + rng.normal(0, noise, (17, 2))
                conf[c, t, s], track[c, t, s], truth[k, c, t] = 0.9, k, s
    return uv, conf, track, truth


def test_the_subject_is_the_person_all_views_agree_on_and_a_bystander_is_dropped():
    rng, cams = np.random.default_rng(0), _rig()
    subject, bystander = _walk((0, 0), (0.03, 0)), _walk((1.0, 0.9), (0, 0))
    uv, conf, track, truth = _detections(cams, [subject, bystander], [[1, 1, 1, 1], [1, 1, 0, 0]], rng)
    chosen, report = choose_subject(cams, uv, conf, track, SubjectConfig())
    assert np.array_equal(chosen, truth[0])  # every view, every frame: the subject's detection, never the bystander's
    assert report["frames_with_subject"] == T and report["views_per_frame"] == 4
    assert [p["support"] for p in report["people"]] == [4 * T, 2 * T]


def test_a_view_that_lost_the_subject_is_looked_at_again_where_the_others_see_him():
    rng, cams = np.random.default_rng(3), _rig()
    subject = _walk((0, 0), (0.03, 0))
    uv, conf, track, _ = _detections(cams, [subject], [[1, 1, 1, 1]], rng)
    chosen, _ = choose_subject(cams, uv, conf, track, SubjectConfig())
    s_uv, s_conf = take_chosen(uv, chosen), take_chosen(conf, chosen)
    missing = np.zeros(chosen.shape, bool)
    missing[2, 3:6] = True
    s_uv[missing], s_conf[missing] = 0, 0  # view 2 lost him in frames 3-5
    asked = []

    def look(c, t, expected):  # a detector that finds him where he is, but someone else in frame 5
        asked.append((c, t, expected))
        px = cams[c].project(subject[t])[0] + rng.normal(0, 1.0, (17, 2))
        return px + (300 if t == 5 else 0), np.full(17, 0.9)

    f_uv, f_conf, filled = fill_missing_views(cams, s_uv, s_conf, missing, look, SubjectConfig())
    assert [(c, t) for c, t, _ in asked] == [(2, 3), (2, 4), (2, 5)]
    assert np.abs(asked[0][2] - cams[2].project(subject[3])[0]).max() < 5  # looked where he is
    assert filled.sum() == 2 and filled[2, 3] and filled[2, 4]
    assert np.abs(f_uv[2, 4] - cams[2].project(subject[4])[0]).max() < 5 and (f_conf[2, 5] == 0).all()
    assert np.array_equal(f_uv[~missing], s_uv[~missing])  # the views that had him are left as they were


def test_two_equally_consistent_people_stop_with_one_message_unless_a_position_names_the_subject():
    rng, cams = np.random.default_rng(1), _rig()
    a, b = _walk((0, 0), (0, 0)), _walk((1.2, -0.8), (0, 0))
    uv, conf, track, truth = _detections(cams, [a, b], [[1] * 4, [1] * 4], rng)
    with pytest.raises(
        NtopError, match=r"field 'keypoints.subject.position': two people are equally consistent across views \(floor positions"
    ):
        choose_subject(cams, uv, conf, track, SubjectConfig(), "trial")
    chosen, _ = choose_subject(cams, uv, conf, track, SubjectConfig(position=[1.0, -1.0]))
    assert np.array_equal(chosen, truth[1])


def test_no_person_seen_consistently_by_two_views_is_one_message():
    rng, cams = np.random.default_rng(2), _rig()
    uv, conf, track, _ = _detections(cams, [_walk((0, 0), (0, 0))], [[1, 1, 1, 1]], rng)
    conf[1:], track[1:] = 0, -1  # only the first view sees anyone
    with pytest.raises(NtopError, match="no person is seen consistently by two or more cameras"):
        choose_subject(cams, uv, conf, track, SubjectConfig())


def test_one_camera_keeps_its_largest_most_present_person():
    rng, cams = np.random.default_rng(3), _rig(1)
    near, far = _walk((0, 0), (0, 0)), _walk((-2.5, -2.5), (0, 0))
    uv, conf, track, truth = _detections(cams, [near, far], [[1], [1]], rng)
    chosen, _ = choose_subject(cams, uv, conf, track, SubjectConfig())
    assert np.array_equal(chosen, truth[0])
    with pytest.raises(NtopError, match="no person with enough confident keypoints in any frame"):
        choose_subject(cams, uv, conf * 0, track * 0 - 1, SubjectConfig())


def test_a_view_with_left_and_right_swapped_is_swapped_back():
    rng, cams = np.random.default_rng(4), _rig()
    uv, conf, _, truth = _detections(cams, [_walk((0, 0), (0.02, 0.01))], [[1] * 4], rng)
    idx = truth[0]
    take = lambda a: a[np.arange(4)[:, None], np.arange(T)[None], idx]  # noqa: E731
    uv, conf = take(uv), take(conf)
    flip = np.arange(17)
    for i, j in COCO17.flip_pairs:
        flip[i], flip[j] = j, i
    bad = uv.copy()
    bad[2, 3:7] = uv[2, 3:7][:, flip]  # the third view mixes up left and right in four frames
    fixed, _, swapped = swap_left_right(cams, bad, conf, SubjectConfig())
    assert swapped.sum() == 4 and swapped[2, 3:7].all()
    assert np.allclose(fixed, uv)
