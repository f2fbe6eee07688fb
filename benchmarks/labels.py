"""Label-writing speed: annotated persons per second, all five label files, on a synthetic subject.

    python benchmarks/labels.py [--frames 60] [--threads 2] [--repeats 5]

The renders are stood in for by the SMPL silhouettes, written to ``render.h5`` as the render stage
writes them (label writing does not look at the pixels), so the figure is the annotate stage alone: posing the bodies, projecting every
joint set through every view's fisheye, exact per-joint visibility, boxes, twist angles, five JSON files.
The peer, timed in the same run, is the per-image loop a hand-written script does (NToP's
``gen_cocolike_anno.py`` style): ``cv2.fisheye.projectPoints`` per image and COCO-17 only, no
visibility, no other formats.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ntop.annotate.stage import annotate
from ntop.body import BodyModel
from ntop.body.procedural import cached_path
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.fisheye import write_render_stage
from ntop.qa.labels import body_depth
from ntop.views import RigConfig, load_views, plan_views


def silhouette_render(body: BodyModel, views: Path, out: Path) -> None:
    pv = load_views(views)
    s = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pv.smpl.items()}
    with torch.no_grad():
        verts = body(s["global_orient"], s["body_pose"], s["betas"][None], s["transl"]).vertices
    alpha = np.stack([np.isfinite(body_depth(body, verts[f], pv, f)) for f in range(pv.shape[0])]).astype(np.float16)
    out.mkdir(parents=True)
    write_render_stage(out / "render.h5", pv, alpha, np.zeros_like(alpha), "png", {}, [])


def per_image_peer(body: BodyModel, views: Path, out: Path) -> int:
    """COCO-17 keypoints, one image at a time with OpenCV, written as one JSON."""
    pv = load_views(views)
    s = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pv.smpl.items()}
    anns = []
    for f in range(pv.shape[0]):
        with torch.no_grad():
            out_f = body(s["global_orient"][f : f + 1], s["body_pose"][f : f + 1], s["betas"][None], s["transl"][f : f + 1])
            joints = body.joint_set(out_f, "coco17")[0].double().numpy()
        for v in range(pv.shape[1]):
            cam = pv.camera(f, v)
            pc = cam.world_to_camera(joints)
            uv = cv2.fisheye.projectPoints(pc[:, None], np.zeros(3), np.zeros(3), cam.K_matrix, np.zeros(4))[0][:, 0]
            inside = (pc[:, 2] > 0) & cam.in_image(uv)
            kps = np.concatenate([np.where(inside[:, None], uv, 0), np.where(inside, 2, 0)[:, None]], 1)
            anns.append({"id": int(pv.ids[f, v]), "image_id": int(pv.ids[f, v]), "keypoints": np.round(kps, 2).ravel().tolist()})
    out.write_text(json.dumps({"annotations": anns}))
    return len(anns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each; the median is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="ntop-labels-bench-"))
    body = BodyModel.from_file(cached_path())
    generate(body, "b", "walk", SyntheticConfig(num_frames=args.frames, num_cameras=1, width=32, height=32), work / "raw")
    ingest("synthetic", work / "raw", "b", "walk", work / "capture.h5", work / "frames.h5")
    plan_views(work / "capture.h5", work / "views.h5", RigConfig(heights_radii=[[1.2, 1.0], [1.0, 0.5]]), (0, 1, 1))
    silhouette_render(body, work / "views.h5", work / "render")
    annotate(work / "views.h5", work / "render", body, work / "warm", (0, 1, 1), {"name": "", "url": ""})  # warm-up (compiles the ray caster)
    ours, peer = [], []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        summary = annotate(work / "views.h5", work / "render", body, work / f"labels{i}", (0, 1, 1), {"name": "", "url": ""})
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n_peer = per_image_peer(body, work / "views.h5", work / "peer.json")
        peer.append(time.perf_counter() - t0)
    ours, peer = float(np.median(ours)), float(np.median(peer))
    n = summary["annotations"]
    print(f"torch {torch.__version__}, {args.threads} threads, cpu; {args.frames} frames x 18 views (NToP's two rigs), 256x256 equidistant")
    print(f"ntop annotate: {n} persons, 5 files (COCO-17 + boxes + HybrIK H36M/PW3D + 3DMPPE, 87 joints each, exact visibility) in {ours:.3f} s (median of {args.repeats}): {n / ours:,.0f} labels/s")
    print(f"per-image OpenCV loop, COCO-17 only, no visibility: {n_peer} persons in {peer:.3f} s: {n_peer / peer:,.0f} labels/s")
    print(f"ratio (ntop / peer, labels per second): {(n / ours) / (n_peer / peer):.2f}")


if __name__ == "__main__":
    main()
