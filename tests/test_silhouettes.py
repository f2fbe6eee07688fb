"""The masks' cross-view check: exact silhouettes support each other; a part one view lost, or
background another view took for person, does not."""

import numpy as np
import pytest

from ntop.cameras import Camera
from ntop.cameras.camera import look_at
from ntop.errors import NtopError
from ntop.io import create_stage, write_cameras
from ntop.qa.silhouettes import body_box, check_support, unsupported_pixels

CENTRE, AXES = np.array([0.0, 0.0, 1.0]), np.array([0.25, 0.18, 0.8])  # an upright ellipsoid, a body's size


def _ring() -> list[Camera]:
    cams = []
    for i, a in enumerate(np.radians([0, 95, 180, 265])):
        R, t = look_at(np.array([3 * np.cos(a), 3 * np.sin(a), 1.5]), CENTRE)
        cams.append(Camera("pinhole", np.array([160.0, 160.0, 63.5, 95.5]), 128, 192, R=R, t=t, name=f"cam{i}"))
    return cams


def _silhouette(cam: Camera) -> np.ndarray:
    """Exact mask of the ellipsoid: pixels whose ray meets it."""
    origins, dirs, _ = (np.asarray(x) for x in cam.world_rays(cam.pixel_grid().reshape(-1, 2)))
    o, d = (origins - CENTRE) / AXES, dirs / AXES
    a, b, c = (d * d).sum(-1), 2 * (o * d).sum(-1), (o * o).sum(-1) - 1
    return (b * b - 4 * a * c >= 0).reshape(cam.height, cam.width)


def _box() -> tuple[np.ndarray, np.ndarray]:
    joints = CENTRE + np.array([[0, 0, -0.75], [0, 0, 0.7], [0.2, 0, 0.3], [-0.2, 0, 0.3]])
    return body_box(joints)


def _share(result: list) -> float:
    return 1 - sum(len(bad) for bad, _ in result) / sum(n for _, n in result)


def test_exact_silhouettes_support_each_other():
    cams = _ring()
    masks = [_silhouette(c) for c in cams]
    assert min(m.sum() for m in masks) > 1000
    assert _share(unsupported_pixels(masks, cams, *_box())) == 1.0


def test_a_part_one_view_lost_leaves_the_others_unsupported():
    cams = _ring()
    masks = [_silhouette(c) for c in cams]
    masks[0][masks[0].shape[0] // 2 :] = False  # the legs gone from one view
    result = unsupported_pixels(masks, cams, *_box())
    assert _share(result) < 0.8
    assert len(result[0][0]) == 0  # what remains of the view that lost them is still supported


def test_background_taken_for_person_is_unsupported():
    cams = _ring()
    masks = [_silhouette(c) for c in cams]
    masks[1][:, :12] = True  # a strip of wall at the image's edge, beside the body in every other view
    result = unsupported_pixels(masks, cams, *_box())
    bad = result[1][0]
    assert len(bad) >= 0.9 * 12 * 192 and (bad[:, 0] < 12).all()


@pytest.mark.parametrize("stride", [2, 3])
def test_a_stride_tests_a_share_of_the_pixels(stride):
    cams = _ring()
    masks = [_silhouette(c) for c in cams]
    result = unsupported_pixels(masks, cams, *_box(), stride=stride)
    assert all(n == m[::stride, ::stride].sum() for (_, n), m in zip(result, masks))


def test_too_few_joints_give_no_box():
    assert body_box(np.full((17, 3), np.nan)) is None


def _files(tmp_path, joint_frames: np.ndarray) -> tuple:
    cams = _ring()
    with create_stage(tmp_path / "masks.h5", "masks", 1, units="pixels") as f:
        write_cameras(f.create_group("cameras"), cams)
        f["frame_index"] = np.arange(6)
        for c in cams:
            f[f"masks/{c.name}"] = np.repeat(_silhouette(c)[None], 6, 0).astype(np.uint8)
    joints = np.repeat((CENTRE + np.array([[0, 0, -0.75], [0, 0, 0.7], [0.2, 0, 0.3]]))[None], len(joint_frames), 0)
    with create_stage(tmp_path / "keypoints3d.h5", "keypoints3d", 1) as f:
        f["frame_index"], f["joints"] = joint_frames, joints
    return tmp_path / "masks.h5", tmp_path / "keypoints3d.h5"


def test_the_check_reads_the_stage_files_and_names_a_frame_mismatch(tmp_path):
    report, picture = check_support(*_files(tmp_path, np.arange(6)))
    assert report["supported"] == 1.0 and report["frames"] == 2 and picture["frame"] in (0, 5)
    with pytest.raises(NtopError, match="frames are not the masks'") as e:
        check_support(*_files(tmp_path, np.arange(1, 7)))
    assert "frame_index" in str(e.value) and "keypoints3d.h5" in str(e.value)
