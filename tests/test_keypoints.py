import json

import h5py
import numpy as np
import pytest
import torch

from ntop.align import procrustes
from ntop.body import JOINT_SETS
from ntop.cameras import Camera, look_at
from ntop.cli import main
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate, make_cameras, pose_sequence
from ntop.errors import NtopError
from ntop.keypoints.calibrate import PROPORTION_SPREAD_WARN, BONES, CalibrateConfig, bone_lengths, calibrate_cameras
from ntop.keypoints.calibrate import NEUTRAL_SCALE_PRIOR, camera_errors, proportion_spread, refine_cameras
from ntop.keypoints.detect import DetectConfig, detect_keypoints, emulate_detector
from ntop.keypoints.triangulate import TriangulateConfig, temporal_filter, triangulate, triangulate_points
from ntop.qa.keypoints import check_keypoints


def _ring(n=6):
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n + 0.3
        R, t = look_at(np.array([3 * np.cos(a), 3 * np.sin(a), 1.5 + 0.2 * (i % 2)]), np.array([0.0, 0.0, 1.0]))
        cams.append(Camera("pinhole", [400, 400, 320, 240], 640, 480, [-0.1, 0.02, 0.001, 0.0, 0.0], R, t, name=f"c{i}"))
    return cams


def test_exact_keypoints_triangulate_exactly_and_outliers_are_rejected():
    rng = np.random.default_rng(0)
    cams = _ring()
    X = rng.uniform(-0.5, 0.5, (200, 3)) + [0, 0, 1.0]
    uv = np.stack([cam.project(X)[0] for cam in cams])  # (C, N, 2)
    conf = np.ones((len(cams), len(X)))
    res = triangulate_points(cams, uv, conf, TriangulateConfig())
    assert np.abs(res["points"] - X).max() < 1e-6 and res["inliers"].all() and np.nanmax(res["error_px"]) < 1e-5
    bad = uv.copy()
    which = rng.integers(0, len(cams), len(X))
    bad[which, np.arange(len(X))] += rng.choice([-1, 1], (len(X), 2)) * rng.uniform(30, 80, (len(X), 2))
    res = triangulate_points(cams, bad, conf, TriangulateConfig())
    assert np.abs(res["points"] - X).max() < 1e-6  # one outlier among six views never survives
    assert not res["inliers"][np.arange(len(X)), which].any()
    noisy = uv + rng.normal(0, 1.0, uv.shape)
    res = triangulate_points(cams, noisy, conf, TriangulateConfig())
    assert np.linalg.norm(res["points"] - X, axis=1).mean() < 0.01  # 1 px noise at 3 m: millimetres


def test_detect_and_triangulate_stage_files(synthetic_capture, tmp_path):
    capture = synthetic_capture(num_frames=4, num_cameras=4, width=96, height=96, seed=1) / "capture.h5"
    summary = detect_keypoints(capture, tmp_path / "k2.h5", DetectConfig(outlier_rate=0.2, seed=3))
    with h5py.File(tmp_path / "k2.h5") as f, h5py.File(capture) as cap:
        conf, out = f["confidence"][()], f["is_outlier"][()]
        seen = cap["gt/visibility/coco17"][()] > 0
        assert (conf[~seen] == 0).all() and f["joints"].shape == (4, 4, 17, 2)
        assert 0.1 < out.sum() / seen.sum() < 0.3 and summary["outliers"] == int(out.sum())
    result = triangulate(tmp_path / "k2.h5", tmp_path / "k3.h5", TriangulateConfig())
    with h5py.File(tmp_path / "k3.h5") as f:
        assert f.attrs["schema"] == "keypoints3d" and f["joints"].shape == (4, 17, 3) and f["inliers"].shape == (4, 17, 4)
    assert result["triangulated"] > 50
    with pytest.raises(NtopError, match="backend"):
        DetectConfig.from_dict({"backend": "openpose"})


def test_temporal_filter_drops_jumps_and_fills_gaps():
    T = 30
    t = np.arange(T)[:, None, None]
    track = np.concatenate([0.03 * t + np.zeros((T, 1, 3)), np.full((T, 1, 3), np.nan)], 1)  # moving joint, never-seen joint
    bad = track.copy()
    bad[10, 0] += 0.5  # a failed triangulation
    bad[0, 0] += 0.3  # at the very start too
    bad[20, 0] = np.nan  # a gap
    cfg = TriangulateConfig(temporal_gate_m=0.08, median_window=7, smooth_window=0)
    out, gated = temporal_filter(bad, cfg)
    assert gated[10, 0] and gated[0, 0] and gated.sum() == 2
    assert np.allclose(out[1:, 0], track[1:, 0]) and np.isnan(out[:, 1]).all()  # a straight line survives exactly
    assert np.allclose(out[0, 0], track[1, 0])  # the ends are held, not extrapolated
    bad[0, 0] = track[0, 0]
    smooth, _ = temporal_filter(bad, TriangulateConfig(temporal_gate_m=0.08, smooth_window=9))
    assert np.allclose(smooth[:, 0], track[:, 0])  # quadratic Savitzky-Golay keeps a line
    with pytest.raises(NtopError, match="smooth_window"):
        temporal_filter(bad, TriangulateConfig(smooth_window=4))


@pytest.fixture(scope="module")
def walk_keypoints(body):
    syn = SyntheticConfig(num_frames=48, seed=7)
    cams = make_cameras(syn)
    p = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pose_sequence(body, "walk", syn).items()}
    with torch.no_grad():
        out = body(p["global_orient"], p["body_pose"], p["betas"][None], p["transl"])
    gt = body.joint_set(out, "coco17").double().numpy()
    uv, seen = zip(*(cam.project(gt.reshape(-1, 3)) for cam in cams))
    uv, seen = np.stack(uv).reshape(4, 48, 17, 2), np.stack(seen).reshape(4, 48, 17)
    v, _ = body.shaped(p["betas"][None])
    height = float(v[0, :, 1].max() - v[0, :, 1].min())
    return cams, gt, uv, seen, height


def test_calibration_recovers_the_rig_from_a_walking_person(body, walk_keypoints):
    cams, gt, uv, seen, height = walk_keypoints
    noisy, conf, _ = emulate_detector(uv, seen, DetectConfig(noise_px=2.0, outlier_rate=0.1), np.random.default_rng(1))
    est, report = calibrate_cameras(cams, noisy, conf, "coco17", body, CalibrateConfig(height_m=height))
    err = camera_errors(est, cams)
    assert max(err["rotation_deg"].values()) < 1.0 and max(err["centre_pct_of_radius"].values()) < 2.0, err
    assert max(report["residual_px"].values()) < 4
    assert report["bone_ratio_spread"] < PROPORTION_SPREAD_WARN and "warning" not in report
    # the calibrated world stands on the floor: triangulated ankles are near z = ankle height, heads above
    X = triangulate_points(est, noisy.reshape(4, -1, 2), conf.reshape(4, -1), TriangulateConfig())["points"].reshape(48, 17, 3)
    assert abs(np.nanmedian(X[:, 15:17, 2]) - np.median(gt[:, 15:17, 2])) < 0.05
    assert np.nanmedian(X[:, 0, 2]) > 1.3
    with pytest.raises(NtopError, match="two cameras"):
        calibrate_cameras(cams[:1], noisy[:1], conf[:1], "coco17", body, CalibrateConfig())


def test_refining_a_slightly_wrong_rig_brings_it_back_in_its_own_world(walk_keypoints):
    from dataclasses import replace

    from scipy.spatial.transform import Rotation

    cams, gt, uv, seen, _ = walk_keypoints
    rng = np.random.default_rng(3)
    off = []
    for cam in cams:  # each camera turned by 1 degree and moved by 3 cm: a calibration that no longer fits its videos
        R = Rotation.from_rotvec(np.radians(1.0) * rng.normal(size=3) / np.sqrt(3)).as_matrix() @ cam.R
        off.append(replace(cam, R=R, t=-R @ (cam.center + rng.normal(0, 0.03 / np.sqrt(3), 3))))
    noisy, conf, _ = emulate_detector(uv, seen, DetectConfig(noise_px=2.0, outlier_rate=0.1), np.random.default_rng(1))
    refined, report = refine_cameras(off, noisy, conf, CalibrateConfig(refine=True))

    def joint_error_mm(rig):  # what a rig is for: the person's joints, up to the world's similarity
        X = triangulate_points(rig, noisy.reshape(4, -1, 2), conf.reshape(4, -1), TriangulateConfig())["points"]
        ok = np.isfinite(X[:, 0])
        R, s, t = procrustes(X[ok], gt.reshape(-1, 3)[ok], scale=True)
        return 1000 * np.linalg.norm(s * X[ok] @ R.T + t - gt.reshape(-1, 3)[ok], axis=1).mean()

    assert joint_error_mm(off) > 30 and joint_error_mm(refined) < 1.5 * joint_error_mm(cams), (joint_error_mm(off), joint_error_mm(refined))
    assert report["residual_px_before"] > 2 * max(report["residual_px"].values())
    exact = refine_cameras(off, uv, seen.astype(float), CalibrateConfig(refine=True))[0]  # without noise, the rig itself comes back
    common = exact[0].R @ cams[0].R.T  # the given world's turn against the truth's, the same for every camera
    assert max(np.degrees(Rotation.from_matrix(e.R @ c.R.T @ common.T).magnitude()) for e, c in zip(exact, cams)) < 0.1
    moved = np.stack([c.center for c in refined]) - np.stack([c.center for c in off])
    assert np.linalg.norm(moved.mean(0)) < 0.02  # the given world is kept: no drift of the rig as a whole


def test_a_skeleton_stretched_by_a_wrong_rig_has_unlikely_proportions(body, walk_keypoints):
    gt = walk_keypoints[1]
    names = JOINT_SETS["coco17"].names
    true = np.median(bone_lengths(gt, names), 0)
    assert len(true) == len(BONES) and proportion_spread(true, true) < 1e-9
    assert proportion_spread(2 * true, true) < 1e-9  # the size is the scale prior's business, not this figure's
    tall = gt * np.array([1.0, 1.0, 1.4])  # a rig stretched along the vertical, which a walk on the floor spans least
    assert proportion_spread(np.median(bone_lengths(tall, names), 0), true) > PROPORTION_SPREAD_WARN


def test_a_rig_sized_by_the_neutral_body_warns_and_names_the_height(walk_keypoints):
    from dataclasses import replace

    from scipy.spatial.transform import Rotation

    from ntop.qa.keypoints import _calibration_verdict

    cams = walk_keypoints[0]
    bigger = [replace(c, t=1.1 * c.t) for c in cams]  # the same rig 10 % larger: what a child's keypoints give
    errs = camera_errors(bigger, cams)
    assert abs(errs["scale_error_pct"] - 10) < 1e-6 and max(errs["shape_centre_pct_of_radius"].values()) < 1e-6
    neutral = _calibration_verdict(errs, {"scale_prior": NEUTRAL_SCALE_PRIOR}, used=True)
    assert neutral["passed"] is None and "height_m" in neutral["warning"] and "+10.0 %" in neutral["warning"]
    told = _calibration_verdict(errs, {"scale_prior": "height_m 1.5"}, used=True)  # a height was given, and is wrong
    assert told["passed"] is False and "warning" not in told
    turn = Rotation.from_rotvec(np.radians([0, 3.0, 0])).as_matrix()
    turned = [replace(c, R=turn @ c.R, t=turn @ c.t) if i == 1 else c for i, c in enumerate(bigger)]  # one camera turned in place
    wrong_shape = _calibration_verdict(camera_errors(turned, cams), {"scale_prior": NEUTRAL_SCALE_PRIOR}, used=True)
    assert wrong_shape["passed"] is False and "warning" not in wrong_shape


def test_qa_keypoints_and_cli(body, tmp_path, walk_keypoints):
    generate(body, "s", "walk", SyntheticConfig(num_frames=12, num_cameras=4, width=128, height=128, seed=7), tmp_path / "raw")
    ingest("synthetic", tmp_path / "raw", "s", "walk", tmp_path / "capture.h5", tmp_path / "frames.h5")
    assert main(["detect-keypoints", "--capture", str(tmp_path / "capture.h5"), "--params", json.dumps({"noise_px": 0.0, "outlier_rate": 0.0}),
                 "--out", str(tmp_path / "k2.h5")]) == 0  # fmt: skip
    assert main(["triangulate", "--keypoints2d", str(tmp_path / "k2.h5"), "--cameras", str(tmp_path / "capture.h5"), "--out", str(tmp_path / "k3.h5")]) == 0
    report = check_keypoints(tmp_path / "capture.h5", tmp_path / "k2.h5", tmp_path / "k3.h5")
    tri = report["checks"]["triangulation"]
    assert tri["mpjpe_mm"] < 0.5 and tri["passed"] and report["checks"]["detections"]["median_px"] == 0  # exact in, exact out
    with h5py.File(tmp_path / "k3.h5", "a") as f:
        f["joints"][0, 0] += 0.5
    assert check_keypoints(tmp_path / "capture.h5", tmp_path / "k2.h5", tmp_path / "k3.h5")["checks"]["triangulation"]["mpjpe_mm"] > 2
    bad = main(["triangulate", "--keypoints2d", str(tmp_path / "k2.h5"), "--params", '{"smooth": 5}', "--out", str(tmp_path / "x.h5")])
    assert bad == 2 and not (tmp_path / "x.h5").exists()
    assert main(["triangulate", "--keypoints2d", str(tmp_path / "capture.h5"), "--out", str(tmp_path / "x.h5")]) == 2  # wrong stage file
