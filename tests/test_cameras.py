import math

import cv2
import numpy as np
import pytest
import torch

from ntop.cameras import DEFAULT_FOV_DEG, MODELS, Camera, CameraError, look_at, max_incidence, project, unproject

RNG = np.random.default_rng(0)
RADIAL_FREE = ["equidistant", "equisolid", "stereographic", "orthographic"]


def _K(rng):
    return np.array([rng.uniform(200, 900), rng.uniform(200, 900), rng.uniform(100, 600), rng.uniform(100, 500)])


def _dist(model, rng):
    if model == "pinhole":
        return np.array([rng.uniform(-0.3, 0.1), rng.uniform(-0.05, 0.1), rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01), rng.uniform(-0.02, 0.02)])
    if model == "opencv_fisheye":  # calibrations look like this: a decaying series
        return rng.uniform(-1, 1, 4) * np.array([0.05, 0.01, 0.005, 0.001])
    if model == "double_sphere":
        return np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.4, 0.7)])
    return np.zeros(0)


def _cv_K(K):
    return np.array([[K[0], 0, K[2]], [0, K[1], K[3]], [0, 0, 1.0]])


def _rays(theta_max, n, rng):
    th = rng.uniform(0, theta_max, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)


@pytest.mark.parametrize("trial", range(20))
def test_pinhole_matches_cv2_project_points(trial):
    rng = np.random.default_rng(trial)
    K, d = _K(rng), _dist("pinhole", rng)
    limit = float(max_incidence("pinhole", d))  # inside the field of view the distortion is one-to-one
    pts = _rays(limit * 0.999, 500, rng) * rng.uniform(0.5, 4, (500, 1))
    uv, valid = project("pinhole", pts, K, d)
    ref = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), _cv_K(K), d)[0][:, 0]
    assert valid.all()
    assert np.max(np.abs(uv - ref) / np.maximum(np.abs(ref), 1.0)) <= 1e-6


@pytest.mark.parametrize("trial", range(20))
def test_kannala_brandt_matches_cv2_fisheye(trial):
    rng = np.random.default_rng(100 + trial)
    K, d = _K(rng), _dist("opencv_fisheye", rng)
    pts = _rays(math.radians(85), 500, rng) * rng.uniform(0.5, 4, (500, 1))
    uv, valid = project("opencv_fisheye", pts, K, d)
    ref = cv2.fisheye.projectPoints(pts[:, None], np.zeros(3), np.zeros(3), _cv_K(K), d)[0][:, 0]
    assert valid.all()
    assert np.max(np.abs(uv - ref) / np.maximum(np.abs(ref), 1.0)) <= 1e-6


def _angle(a, b):
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(-1))


@pytest.mark.parametrize("model", list(MODELS))
def test_unproject_project_round_trip_over_the_whole_field_of_view(model):
    for trial in range(5):
        rng = np.random.default_rng(trial)
        K, d = _K(rng), _dist(model, rng)
        limit = float(max_incidence(model, d))
        rays = _rays(limit * (1 - 1e-9), 4000, rng)
        rays[0] = [0, 0, 1]  # the optical axis itself
        uv, valid = project(model, rays, K, d)
        back, valid_back = unproject(model, uv, K, d)
        assert valid.all() and valid_back.all(), model
        assert _angle(back, rays).max() <= 1e-5, model


def test_points_outside_the_field_of_view_are_invalid_not_wrapped():
    K = np.array([300.0, 300.0, 320.0, 320.0])
    behind = np.array([[0.1, 0.2, -1.0], [0.0, 0.0, -1.0]])
    for model in MODELS:  # every model at its default field of view, as a Camera uses it
        _, valid = project(model, behind, K, _dist(model, RNG) * 0, fov_deg=DEFAULT_FOV_DEG[model])
        assert not valid.any(), model
    side = _rays(0, 1, RNG) * 0 + np.array([[np.sin(np.radians(100)), 0, np.cos(np.radians(100))]])
    _, valid = project("equidistant", side, K, np.zeros(0), fov_deg=180)
    assert not valid.any()
    _, valid = project("equidistant", side, K, np.zeros(0), fov_deg=220)
    assert valid.all()
    # a pixel beyond the 180-degree image circle maps to no ray
    _, valid = unproject("equidistant", np.array([[320 + 300 * np.pi / 2 + 5, 320.0]]), K, np.zeros(0), fov_deg=180)
    assert not valid.any()
    # orthographic cannot see past 90 degrees at all
    _, valid = unproject("orthographic", np.array([[320 + 301.0, 320.0]]), K, np.zeros(0))
    assert not valid.any()


@pytest.mark.parametrize("model", list(MODELS))
def test_gradients_are_finite_even_on_the_axis(model):
    rng = np.random.default_rng(3)
    K = torch.tensor(_K(rng), requires_grad=True)
    d = torch.tensor(_dist(model, rng), requires_grad=True)
    pts = torch.tensor(np.concatenate([[[0, 0, 2.0]], _rays(0.7, 50, rng) * 2]), requires_grad=True)
    uv, _ = project(model, pts, K, d)
    rays, _ = unproject(model, uv, K, d)
    (uv.sum() + rays.sum()).backward()
    for t in (K, d, pts):
        assert t.numel() == 0 or torch.isfinite(t.grad).all(), model


def test_torch_float32_batched_cameras_agree_with_numpy_float64():
    rng = np.random.default_rng(5)
    Ks = np.stack([_K(rng) for _ in range(3)])
    ds = np.stack([_dist("opencv_fisheye", rng) for _ in range(3)])
    pts = _rays(1.2, 100, rng) * 2
    uv_t, valid_t = project("opencv_fisheye", torch.tensor(pts, dtype=torch.float32)[None].expand(3, -1, -1),
                            torch.tensor(Ks, dtype=torch.float32)[:, None], torch.tensor(ds, dtype=torch.float32)[:, None])  # fmt: skip
    for c in range(3):
        uv_n, valid_n = project("opencv_fisheye", pts, Ks[c], ds[c])
        np.testing.assert_allclose(uv_t[c].numpy(), uv_n, rtol=1e-5, atol=1e-3)
        assert (valid_t[c].numpy() == valid_n).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(6)
    pts = torch.tensor(_rays(1.4, 1000, rng), dtype=torch.float32)
    K = torch.tensor(_K(rng), dtype=torch.float32)
    d = torch.tensor(_dist("double_sphere", rng), dtype=torch.float32)
    cpu = project("double_sphere", pts, K, d)[0]
    gpu = project("double_sphere", pts.cuda(), K.cuda(), d.cuda())[0].cpu()
    torch.testing.assert_close(cpu, gpu, rtol=1e-5, atol=1e-3)


def test_camera_world_frame_dict_round_trip_and_errors():
    R, t = look_at(np.array([2.0, 1.0, 1.5]), np.array([0.0, 0.0, 1.0]))
    cam = Camera("pinhole", [500, 500, 320, 240], 640, 480, [-0.1, 0.01, 0, 0, 0], R, t, name="c0")
    again = Camera.from_dict(cam.to_dict())
    assert again.to_dict() == cam.to_dict()
    np.testing.assert_allclose(cam.center, [2.0, 1.0, 1.5], atol=1e-12)
    target_cam = cam.world_to_camera(np.array([0.0, 0.0, 1.0]))
    assert abs(target_cam[0]) < 1e-9 and abs(target_cam[1]) < 1e-9 and target_cam[2] > 0  # looks at the target
    p = RNG.normal(size=(10, 3))
    np.testing.assert_allclose(cam.camera_to_world(cam.world_to_camera(p)), p, atol=1e-12)
    uv, _ = cam.project(np.array([[0.0, 0.0, 1.0]]))
    torch_uv, _ = cam.project(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64))
    np.testing.assert_allclose(torch_uv.numpy(), uv)
    origins, dirs, valid = cam.world_rays(uv)
    np.testing.assert_allclose(origins[0] + dirs[0] * np.linalg.norm(cam.center - [0, 0, 1.0]), [0, 0, 1.0], atol=1e-9)
    with pytest.raises(CameraError, match="'dist'"):
        Camera("opencv_fisheye", [1, 1, 0, 0], 10, 10, [0.1])
    with pytest.raises(CameraError, match="missing field 'K'"):
        Camera.from_dict({"model": "pinhole", "width": 4, "height": 4}, where="cams.json[0]")
    with pytest.raises(CameraError, match="unknown model"):
        Camera.from_dict({"model": "fisheye", "K": [1, 1, 0, 0], "width": 4, "height": 4})
    with pytest.raises(CameraError, match="rotation"):
        Camera("equidistant", [1, 1, 0, 0], 10, 10, R=np.ones((3, 3)))


def test_scaled_camera_keeps_pixel_centres_consistent():
    cam = Camera("equidistant", [100, 100, 63.5, 63.5], 128, 128)
    half = cam.scaled(0.5)
    p = np.array([[0.3, -0.2, 1.0]])
    uv, _ = cam.project(p)
    uv_half, _ = half.project(p)
    np.testing.assert_allclose((uv_half + 0.5) * 2 - 0.5, uv, atol=1e-9)


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_has_an_independent_reference_projection_that_agrees(model):
    from ntop.qa.reference_projection import reference_project

    rng = np.random.default_rng(7)
    K, d = _K(rng), _dist(model, rng)
    limit = float(max_incidence(model, d, DEFAULT_FOV_DEG[model] or 170.0))
    pts = _rays(min(limit, math.radians(80)) * 0.99, 300, rng) * rng.uniform(0.5, 4, (300, 1))
    uv, valid = project(model, pts, K, d)
    assert valid.all()
    assert np.abs(reference_project(model, pts, K, d) - uv).max() < 1e-6
    other = "equisolid" if model != "equisolid" else "stereographic"  # a label projected with the wrong lens is caught
    wrong, _ = project(other, pts, K, _dist(other, rng))
    assert np.abs(reference_project(model, pts, K, d) - wrong).max() > 1.0
