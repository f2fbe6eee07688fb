import h5py
import numpy as np
import pytest

from ntop.cameras import Camera, look_at
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.errors import NtopError
from ntop.keypoints.detect import DetectConfig, detect_keypoints
from ntop.keypoints.triangulate import TriangulateConfig, triangulate, triangulate_points


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


def test_detect_and_triangulate_stage_files(body, tmp_path):
    generate(body, "s", "walk", SyntheticConfig(num_frames=4, num_cameras=4, width=96, height=96, seed=1), tmp_path / "raw")
    ingest("synthetic", tmp_path / "raw", "s", "walk", tmp_path / "capture.h5", tmp_path / "frames.h5")
    summary = detect_keypoints(tmp_path / "capture.h5", tmp_path / "k2.h5", DetectConfig(outlier_rate=0.2, seed=3))
    with h5py.File(tmp_path / "k2.h5") as f, h5py.File(tmp_path / "capture.h5") as cap:
        conf, out = f["confidence"][()], f["is_outlier"][()]
        seen = cap["gt/visibility/coco17"][()] > 0
        assert (conf[~seen] == 0).all() and f["joints"].shape == (4, 4, 17, 2)
        assert 0.1 < out.sum() / seen.sum() < 0.3 and summary["outliers"] == int(out.sum())
    result = triangulate(tmp_path / "k2.h5", tmp_path / "k3.h5", TriangulateConfig())
    with h5py.File(tmp_path / "k3.h5") as f:
        assert f.attrs["schema"] == "keypoints3d" and f["joints"].shape == (4, 17, 3) and f["inliers"].shape == (4, 17, 4)
    assert result["triangulated"] > 50
    with pytest.raises(NtopError, match="backend"):
        DetectConfig.from_dict({"backend": "onnx"})
