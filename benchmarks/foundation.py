"""Foundation speed figures, each against a peer measured in the same run.

    python benchmarks/foundation.py [--threads 2]

- BodyModel forward, 1,000 random poses (procedural model) vs smplx on a model of SMPL's real size
  (6,890 vertices): the target is < 1 s on 2 CPU cores.
- ntop.cameras.project on 1M points vs cv2.projectPoints (pinhole + distortion) and
  cv2.fisheye.projectPoints (Kannala-Brandt).
- The rasterizer: body silhouettes with depth at 256x256 vs OpenCV's fillPoly drawing the same
  triangles without a z-buffer (a lower bound for any rasterizer on the CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from typing import Callable

import cv2
import numpy as np
import smplx
import torch
from smplx.utils import Struct

from ntop.body import BodyModel
from ntop.body.loaders import load_model_file
from ntop.body.procedural import cached_path
from ntop.cameras import Camera, look_at, project
from ntop.raster import rasterize


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def smpl_sized_peer(data: dict) -> smplx.SMPL:
    """smplx's SMPL layer on the procedural arrays padded to SMPL's 6,890 vertices."""
    pad = 6890 - len(data["v_template"])
    arrays = dict(data)
    for key in ("v_template", "weights", "shapedirs", "posedirs"):
        arrays[key] = np.concatenate([data[key], np.repeat(data[key][:1], pad, 0)])
    arrays["J_regressor"] = np.concatenate([data["J_regressor"], np.zeros((24, pad))], 1)
    with contextlib.redirect_stdout(io.StringIO()):
        return smplx.SMPL(model_path="", data_struct=Struct(**arrays))


def bench_body(row: Callable[..., None]) -> None:
    path = cached_path()
    body = BodyModel.from_file(path)
    peer = smpl_sized_peer(load_model_file(path))
    torch.manual_seed(0)
    B = 1000
    go, pose, betas, transl = torch.randn(B, 3) * 0.3, torch.randn(B, 69) * 0.3, torch.randn(B, 10), torch.randn(B, 3)
    with torch.no_grad():
        ours = best_of(lambda: body(go, pose, betas, transl))
        theirs = best_of(lambda: peer(betas=betas, body_pose=pose, global_orient=go, transl=transl))
    row(f"BodyModel forward, {B} poses, {body.num_vertices} vertices", ours, "s", f"smplx SMPL-size (6890 v) {theirs:.3f} s", theirs / ours)


def bench_cameras(row: Callable[..., None]) -> None:
    rng = np.random.default_rng(0)
    N = 1_000_000
    pts = np.concatenate([rng.uniform(-1, 1, (N, 2)), rng.uniform(1, 4, (N, 1))], 1)
    K = np.array([500.0, 500.0, 320.0, 240.0])
    Km = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    d5 = np.array([-0.2, 0.05, 0.001, -0.001, 0.01])
    d4 = np.array([0.03, -0.005, 0.001, -0.0002])
    pts_t = torch.as_tensor(pts, dtype=torch.float32)
    for model, d, peer_name, peer in (
        ("pinhole", d5, "cv2.projectPoints", lambda: cv2.projectPoints(pts, np.zeros(3), np.zeros(3), Km, d5)),
        ("opencv_fisheye", d4, "cv2.fisheye.projectPoints", lambda: cv2.fisheye.projectPoints(pts[:, None], np.zeros(3), np.zeros(3), Km, d4)),
    ):
        Kt, dt = torch.as_tensor(K, dtype=torch.float32), torch.as_tensor(d, dtype=torch.float32)
        ours64 = best_of(lambda: project(model, pts, K, d))
        ours32 = best_of(lambda: project(model, pts_t, Kt, dt))
        theirs = best_of(peer)
        row(f"project {model}, 1M points, numpy float64", ours64, "s", f"{peer_name} {theirs:.3f} s", theirs / ours64)
        row(f"project {model}, 1M points, torch float32", ours32, "s", f"{peer_name} {theirs:.3f} s", theirs / ours32)


def bench_raster(row: Callable[..., None]) -> None:
    body = BodyModel.from_file(cached_path())
    R, t = look_at(np.array([0.0, -2.6, 1.0]), np.array([0.0, 0.0, 0.95]))
    cam = Camera("pinhole", [240, 240, 127.5, 127.5], 256, 256, [-0.06, 0.015, 0, 0, 0], R, t)
    torch.manual_seed(0)
    B = 16
    go = torch.tensor([[np.pi / 2, 0.0, 0.0]]).expand(B, -1)
    with torch.no_grad():
        out = body(go, torch.randn(B, 69) * 0.2, None, torch.tensor([[0.0, 0.0, 1.0]]).expand(B, -1))
    v = cam.world_to_camera(out.vertices)
    K = torch.as_tensor(cam.K, dtype=torch.float32)[None].expand(B, -1)
    d = torch.as_tensor(cam.dist, dtype=torch.float32)[None].expand(B, -1)
    ours = best_of(lambda: rasterize(v, body.faces, cam.model, K, d, 256, 256), repeats=3)
    faces = body.faces.numpy()
    polys = [list(np.rint(cam.project_camera(v[b].double().numpy())[0][faces] * 16).astype(np.int32)) for b in range(B)]

    def fill_poly() -> None:  # projection done beforehand: the peer only draws
        for b in range(B):
            cv2.fillPoly(np.zeros((256, 256), np.uint8), polys[b], 1, shift=4)

    theirs = best_of(fill_poly, repeats=3)
    row(f"rasterize {B} bodies at 256x256 (z-buffer, barycentrics, depth)", B / ours, "frames/s",
        f"cv2.fillPoly silhouettes, no z-buffer {B / theirs:.0f} frames/s", theirs / ours)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, device cpu")
    print(f"{'benchmark':62s} {'ntop':>12s}   peer (ratio = peer time / ntop time)")

    def row(name: str, value: float, unit: str, peer: str, ratio: float) -> None:
        print(f"{name:62s} {value:9.3f} {unit:8s} {peer}  ratio {ratio:.2f}")

    bench_body(row)
    bench_cameras(row)
    bench_raster(row)


if __name__ == "__main__":
    main()
