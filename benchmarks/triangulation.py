"""Triangulation speed and accuracy: ntop against aniposelib's RANSAC triangulation, same data, one run.

    pip install -e ".[bench]"      # aniposelib, the peer
    python benchmarks/triangulation.py [--frames 100] [--threads 2]

Data: the synthetic demo's rig (4 pinhole cameras with OpenCV distortion, 256 px) and walk, COCO-17
joints projected through the true cameras and made detector-like (2 px noise, 10 % outliers, 2 %
dropouts: ``ntop.keypoints.detect.emulate_detector``). Both get the same pixels and cameras; the
peer gets dropped joints as NaN (its convention) and no confidences. ntop is timed per frame alone
(what aniposelib does) and with its temporal filter; MPJPE is over the points each method returns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.procedural import cached_path
from ntop.datasets.synthetic.capture import SyntheticConfig, make_cameras, pose_sequence
from ntop.keypoints.detect import DetectConfig, emulate_detector
from ntop.keypoints.triangulate import TriangulateConfig, temporal_filter, triangulate_points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from aniposelib.cameras import Camera as AniCamera
    from aniposelib.cameras import CameraGroup

    body = BodyModel.from_file(cached_path())
    syn = SyntheticConfig(num_frames=a.frames, seed=7)
    cams = make_cameras(syn)
    p = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pose_sequence(body, "walk", syn).items()}
    with torch.no_grad():
        gt = body.joint_set(body(p["global_orient"], p["body_pose"], p["betas"][None], p["transl"]), "coco17").double().numpy()
    T, J = gt.shape[:2]
    uv, seen = zip(*(cam.project(gt.reshape(-1, 3)) for cam in cams))
    uv, seen = np.stack(uv), np.stack(seen)
    noisy, conf, _ = emulate_detector(uv, seen, DetectConfig(noise_px=2.0, outlier_rate=0.1), np.random.default_rng(a.seed))
    truth = gt.reshape(-1, 3)

    def mpjpe(X: np.ndarray) -> tuple[float, float]:
        e = np.linalg.norm(X.reshape(-1, 3) - truth, axis=1) * 1000
        return float(np.nanmean(e)), float(100 * np.isfinite(e).mean())

    cfg = TriangulateConfig(threshold_px=12.0, temporal_gate_m=0.08, median_window=7, smooth_window=11)
    triangulate_points(cams, noisy[:, :J], conf[:, :J], cfg)  # warm-up (imports, first SVD)
    t0 = time.perf_counter()
    ours = triangulate_points(cams, noisy, conf, cfg)["points"]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    filtered, _ = temporal_filter(ours.reshape(T, J, 3), cfg)
    t_filter = time.perf_counter() - t0

    group = CameraGroup([
        AniCamera(matrix=c.K_matrix, dist=c.dist, size=(c.width, c.height), rvec=cv2_rvec(c.R), tvec=c.t, name=c.name) for c in cams
    ])  # fmt: skip
    peer_in = np.where(conf[..., None] > 0, noisy, np.nan)
    t0 = time.perf_counter()
    peer = group.triangulate_ransac(peer_in, undistort=True, min_cams=2)[0]  # (points, picked, points_2d, errors)
    t_peer = time.perf_counter() - t0

    n = T * J
    rows = [
        ("ntop, per frame", t_ours, *mpjpe(ours)),
        ("ntop + temporal filter", t_ours + t_filter, *mpjpe(filtered)),
        ("aniposelib triangulate_ransac", t_peer, *mpjpe(peer)),
    ]
    print(f"{T} frames x {J} joints x {len(cams)} cameras = {n} points; 2 px noise, 10 % outliers; {a.threads} threads")
    print(f"{'method':32s} {'seconds':>9s} {'points/s':>11s} {'MPJPE mm':>9s} {'returned %':>10s}")
    for name, t, err, ret in rows:
        print(f"{name:32s} {t:9.3f} {n / t:11.0f} {err:9.2f} {ret:10.1f}")
    print(f"speed ratio ntop/aniposelib (per frame): {t_peer / t_ours:.1f}x; MPJPE ratio {rows[0][2] / rows[2][2]:.2f}")


def cv2_rvec(R: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(R)[0].ravel()


if __name__ == "__main__":
    main()
