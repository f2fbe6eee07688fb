"""Multi-view SMPL fitting speed: 1,000 frames fitted together, with the accuracy reached.

    python benchmarks/fit.py [--frames 1000] [--threads 2] [--iterations 600] [--body anny|procedural]

Targets: COCO-17 joints of the synthetic subject walking (``pose_sequence``), with the error a
triangulation leaves (13 mm Gaussian per coordinate-free joint, 2 % joints missing). The peer, timed in
the same run, is the same objective fitted frame by frame (what a per-frame fitting loop, e.g. a
SMPLify-style script, does): ``--peer-frames`` of them, the time scaled to the full count.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ntop.body import BodyModel, anny, procedural
from ntop.datasets.synthetic.capture import SyntheticConfig, pose_sequence
from ntop.fit.core import FitConfig, fit_bodies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=FitConfig.iterations)
    ap.add_argument("--peer-frames", type=int, default=10)
    ap.add_argument("--body", choices=["anny", "procedural"], default="anny", help="the default body model, or the tiny test body")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    body = BodyModel.from_file((anny if a.body == "anny" else procedural).cached_path())
    p = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pose_sequence(body, "walk", SyntheticConfig(num_frames=a.frames, seed=7)).items()}
    with torch.no_grad():
        out = body(p["global_orient"], p["body_pose"], p["betas"][None], p["transl"])
        gt = body.joint_set(out, "coco17").double().numpy()
    rng = np.random.default_rng(0)
    targets = gt + rng.normal(0, 0.013 / np.sqrt(3), gt.shape)
    targets[rng.uniform(size=gt.shape[:2]) < 0.02] = np.nan
    cfg = FitConfig(iterations=a.iterations)

    def errors(res: dict[str, np.ndarray], sl: slice) -> tuple[float, float]:
        f = lambda k: torch.as_tensor(res[k], dtype=torch.float32)
        with torch.no_grad():
            fit = body(f("global_orient"), f("body_pose"), f("betas")[None], f("transl"))
        mpjpe = (fit.joints - out.joints[sl]).norm(dim=-1).mean() * 1000
        verts = (fit.vertices - out.vertices[sl]).norm(dim=-1).mean() * 1000
        return float(mpjpe), float(verts)

    t0 = time.perf_counter()
    res = fit_bodies(body, "coco17", cfg, joints3d=targets)
    t_ours = time.perf_counter() - t0
    ours = errors(res, slice(None))
    t0 = time.perf_counter()
    peer_err = []
    for t in range(a.peer_frames):
        r = fit_bodies(body, "coco17", cfg, joints3d=targets[t : t + 1])
        peer_err.append(errors(r, slice(t, t + 1)))
    t_peer = (time.perf_counter() - t0) * a.frames / a.peer_frames
    peer = tuple(np.mean(peer_err, 0))
    print(f"{a.frames} frames, {a.body} body ({body.num_vertices} vertices), COCO-17 targets with 13 mm noise, {a.iterations} L-BFGS iterations, {a.threads} threads")
    print(f"{'method':34s} {'seconds':>8s} {'frames/s':>9s} {'MPJPE mm':>9s} {'vertex mm':>9s}")
    print(f"{'ntop, all frames at once':34s} {t_ours:8.1f} {a.frames / t_ours:9.1f} {ours[0]:9.1f} {ours[1]:9.1f}")
    print(f"{'same objective, frame by frame':34s} {t_peer:8.1f} {a.frames / t_peer:9.1f} {peer[0]:9.1f} {peer[1]:9.1f}  (from {a.peer_frames} frames)")
    print(f"speed ratio: {t_peer / t_ours:.1f}x")


if __name__ == "__main__":
    main()
