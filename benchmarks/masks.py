"""Background subtraction speed and accuracy at 512x512: ntop's bgsub against OpenCV's MOG2 and KNN.

    python benchmarks/masks.py [--frames 48] [--threads 2] [--size 512]

Data: a synthetic capture rendered at ``--size`` (the demo's room, noise 2 levels, 2 % exposure
flicker, the subject's soft shadow, Motion-JPEG video) of the walk and wave actions; one camera
(the first camera of the demo's ring).
ntop models the background from both actions with the projected (ground-truth) SMPL bodies
excluded, then segments every frame (colour test with the body's shadowless part, as for every
synthetic subject, whose only shadow lies round the feet; clean-up, boundary snap): that per-frame
work is timed on frames already decoded, with OpenCV limited to ``--threads``. The peers see the same
frames twice, once to learn (default learning rate) and once measured with learning frozen; their
shadow label counts as background. IoU is against the ground-truth masks. ntop with ``smpl_refine``
is reported too (its time adds the refinement's morphology to bgsub's), and bgsub with a real room's
setting (shadows may lie behind any part of the body).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.params import SmplSequence
from ntop.body.procedural import cached_path
from ntop.datasets.synthetic.capture import SyntheticConfig, generate, make_cameras, pose_sequence
from ntop.io import read_frames
from ntop.masks.background import BgsubConfig, model_background, segment_frame
from ntop.masks.prior import posed_vertices, shadowless_faces, silhouettes
from ntop.masks.refine import refine


def _iou(masks: list[np.ndarray], gt: np.ndarray) -> tuple[float, float]:
    ious = [(m & g).sum() / max((m | g).sum(), 1) for m, g in zip(masks, gt)]
    return float(np.mean(ious)), float(np.min(ious))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    torch.set_num_threads(a.threads)
    body = BodyModel.from_file(cached_path())
    syn = SyntheticConfig(num_frames=a.frames, num_cameras=1, width=a.size, height=a.size, seed=7)
    cam = make_cameras(syn)[0]
    frames, gts, priors, shadowless = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for action in ("walk", "wave"):
            generate(body, "bench", action, syn, Path(tmp) / action)
            frames[action] = np.stack([f for _, f in read_frames(Path(tmp) / action / "videos" / "cam00.avi")])
            with h5py.File(Path(tmp) / action / "gt.h5") as f:
                gts[action] = f["masks"][0] > 0
            p = pose_sequence(body, action, syn)
            seq = SmplSequence(p["global_orient"], p["body_pose"], p["transl"], p["betas"], np.zeros((a.frames, 3)), np.arange(a.frames))
            verts = posed_vertices(body, seq)
            priors[action] = silhouettes(body, verts, cam)
            shadowless[action] = silhouettes(body, verts, cam, faces=shadowless_faces(body))
    cfg = BgsubConfig(underfoot_shadows_only=True)
    t0 = time.perf_counter()
    bg = model_background(np.concatenate([frames[k][::2] for k in frames]), np.concatenate([priors[k][::2] for k in priors]), cfg)
    t_model = time.perf_counter() - t0

    anywhere = BgsubConfig()  # a real room's setting: shadows may lie behind any part of the body
    rows = []
    for name in ("ntop bgsub", "ntop bgsub+smpl_refine", "ntop bgsub, shadows anywhere", "OpenCV MOG2", "OpenCV KNN"):
        masks, elapsed, n = [], 0.0, 0
        for action in frames:
            if name.startswith("OpenCV"):
                sub = cv2.createBackgroundSubtractorMOG2() if "MOG2" in name else cv2.createBackgroundSubtractorKNN()
                for f in frames[action]:
                    sub.apply(f[..., ::-1])
            for f, prior, upper in zip(frames[action], priors[action], shadowless[action]):
                bgr = np.ascontiguousarray(f[..., ::-1])
                t0 = time.perf_counter()
                if name == "ntop bgsub":
                    m = segment_frame(f, bg, cfg, prior, upper)
                elif name == "ntop bgsub+smpl_refine":
                    m = refine(f, prior, segment_frame(f, bg, cfg, prior, upper), 0.04, 0.008)
                elif name == "ntop bgsub, shadows anywhere":
                    m = segment_frame(f, bg, anywhere, prior, upper)
                else:
                    m = sub.apply(bgr, learningRate=0) == 255
                elapsed += time.perf_counter() - t0
                masks.append(m)
                n += 1
        mean, worst = _iou(masks, np.concatenate([gts[k] for k in frames]))
        rows.append((name, n / elapsed, mean, worst))
    print(f"{a.size}x{a.size}, {n} frames (walk + wave), OpenCV threads {a.threads}; ntop background model {t_model:.2f} s")
    print(f"{'method':<30}{'frames/s':>10}{'mean IoU':>10}{'worst IoU':>11}")
    for name, fps, mean, worst in rows:
        print(f"{name:<30}{fps:>10.1f}{mean:>10.4f}{worst:>11.4f}")
    ours = rows[0]
    for name, fps, mean, _ in rows[3:]:
        print(f"ntop bgsub vs {name}: {ours[1] / fps:.2f}x the speed, IoU {ours[2]:.4f} vs {mean:.4f}")


if __name__ == "__main__":
    main()
