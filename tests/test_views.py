import math

import numpy as np
import pytest

from ntop.cameras import FISHEYE_MODELS, project
from ntop.errors import NtopError
from ntop.views import RigConfig, down_rotation, focal_for_fov, plan_rig, view_id, view_name


def test_ntop9_rig_reproduces_ntops_geometry():
    roots = np.array([[0.3, -0.2, 0.95], [0.5, 0.1, 0.9]])
    views = plan_rig(RigConfig(heights_radii=[[1.2, 1.0], [1.0, 0.5]], size=512), roots)
    assert [len(v) for v in views] == [18, 18]
    for f, frame in enumerate(views):
        centre = frame[0].camera
        np.testing.assert_allclose(centre.center, roots[f] + [0, 0, 1.2], atol=1e-12)  # straight above the root
        np.testing.assert_allclose(centre.R[2], [0, 0, -1], atol=1e-12)  # optical axis straight down
        for i in range(1, 9):
            cam = frame[i].camera
            a = 2 * math.pi * (i - 1) / 8
            np.testing.assert_allclose(cam.center, roots[f] + [math.cos(a), math.sin(a), 1.2], atol=1e-12)
            np.testing.assert_array_equal(cam.R, centre.R)  # translated only, never rotated
        np.testing.assert_allclose(frame[9].camera.center, roots[f] + [0, 0, 1.0], atol=1e-12)
        assert frame[10].r == 0.5 and frame[10].rig_index == 1
    cam = views[0][0].camera
    assert cam.model == "equidistant" and cam.K[0] == pytest.approx(512 / math.pi)
    # the root projects to the image centre of the centre camera
    uv, valid = cam.project(roots[:1])
    np.testing.assert_allclose(uv[0], [255.5, 255.5], atol=1e-9)


@pytest.mark.parametrize("model", FISHEYE_MODELS)
def test_focal_puts_the_field_of_view_on_the_inscribed_circle(model):
    dist = {"opencv_fisheye": [0.03, -0.01, 0.0, 0.0], "double_sphere": [-0.1, 0.55]}.get(model, [])
    fov = 180.0 if model != "orthographic" else 178.0
    f = focal_for_fov(model, np.array(dist), 300, fov)
    ray = np.array([[math.sin(math.radians(fov / 2)), 0.0, math.cos(math.radians(fov / 2))]])
    uv, _ = project(model, ray, np.array([f, f, 0.0, 0.0]), np.array(dist, dtype=float))
    assert uv[0, 0] == pytest.approx(150.0)
    with pytest.raises(NtopError, match="exceeds"):
        focal_for_fov("orthographic", np.zeros(0), 300, 200.0)


def test_sampled_rigs_stay_in_their_ranges():
    roots = np.zeros((5, 3)) + [0.0, 0.0, 0.9]
    cfg = RigConfig(kind="sampled", model="opencv_fisheye", dist=[0.02, 0.0, 0.0, 0.0], views=6, ceiling=[2.4, 3.0], radius=1.5, tilt_deg=12, seed=3)
    fixed = plan_rig(cfg, roots)
    for frame in fixed:
        for k, view in enumerate(frame):
            c = view.camera.center
            assert 2.4 <= c[2] <= 3.0 and np.hypot(c[0], c[1]) <= 1.5 + 1e-9
            tilt = math.degrees(math.acos(-view.camera.R[2, 2]))
            assert tilt <= 12 + 1e-9
            np.testing.assert_array_equal(c, fixed[0][k].camera.center)  # per sequence: fixed cameras
    moving = plan_rig(RigConfig(**{**cfg.__dict__, "per_frame": True}), roots)
    assert not np.allclose(moving[0][0].camera.center, moving[1][0].camera.center)
    yaws = [math.atan2(v.camera.R[0, 1], v.camera.R[0, 0]) for v in fixed[0]]
    assert np.ptp(yaws) > 1.0  # yaw is drawn


def test_down_rotation_is_a_rotation_looking_down():
    for yaw, tilt in ((0.0, 0.0), (1.0, 0.2), (-2.0, 0.1)):
        R = down_rotation(yaw, tilt, 0.7)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0) and R[2, 2] < -math.cos(tilt) + 1e-9


def test_names_and_ids_follow_ntops_scheme():
    views = plan_rig(RigConfig(heights_radii=[[1.2, 1.0], [1.0, 0.5]]), np.zeros((1, 3)))
    assert view_name(1, 1, 1, 55, views[0][0]) == "00100100100005512000"[:20]
    names = [view_name(1, 9, 15, 123456, v) for v in views[0]]
    assert names[1] == "00100901512345612101" and names[9 + 3] == "00100901512345610053"
    assert all(len(n) == 20 for n in names) and len(set(names)) == 18
    ids = [view_id(3, 394, 0, 999999, v) for v in views[0]]
    assert len(set(ids)) == 18 and max(ids) < 2**53
    with pytest.raises(NtopError, match="out of range"):
        view_id(9, 1, 1, 1, views[0][0])


def test_rig_config_is_validated():
    with pytest.raises(NtopError, match="'model'"):
        RigConfig.from_dict({"model": "pinhole"})
    with pytest.raises(NtopError, match="'dist'"):
        RigConfig.from_dict({"model": "opencv_fisheye"})
    with pytest.raises(NtopError, match="unknown keys"):
        RigConfig.from_dict({"hieght": 1})
    with pytest.raises(NtopError, match="at most 10"):
        RigConfig.from_dict({"kind": "sampled", "views": 12})
