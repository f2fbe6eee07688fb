"""NeRF training and rendering speed on a larger synthetic subject.

    python benchmarks/nerf.py --device cuda                     # the issue's setting: 512x512, 9+1 cameras, 100 frames
    python benchmarks/nerf.py --device cpu --size 128 --cameras 3 --frames 12 --max-steps 300   # a CPU smoke run

Prints wall time until the held-out camera reaches ``--target-psnr`` (full image, on black, as in
HumanNeRF's protocol; the body-box PSNR beside it), training rays/s, render frames/s of a full image,
and peak GPU memory. No peer runs offline on this machine, so ratios are against the published
anchors (ntop-and-avatars.md): instant-nvr ~5 min to converge on an RTX 3090 and 1.53 fps at 512x512,
HumanNeRF 0.36 fps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ntop.body import BodyModel
from ntop.body.procedural import cached_path
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.masks import MasksConfig, segment
from ntop.nerf.evaluate import heldout_metrics
from ntop.nerf.prepare import PrepareConfig, load_dataset, prepare
from ntop.nerf.render import render_image
from ntop.nerf.train import TrainConfig, load_model, train
from ntop.settings import resolve_device

INSTANT_NVR_TRAIN_S, INSTANT_NVR_FPS, HUMANNERF_FPS = 300.0, 1.53, 0.36


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cameras", type=int, default=9, help="training cameras (one more is held out)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--target-psnr", type=float, default=30.0)
    ap.add_argument("--max-steps", type=int, default=6000)
    ap.add_argument("--check-every", type=int, default=250)
    ap.add_argument("--rays", type=int, default=8192)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    device = resolve_device(args.device, "--device")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ntop-nerf-bench-"))
    body = BodyModel.from_file(cached_path())

    t0 = time.perf_counter()
    cfg = SyntheticConfig(num_frames=args.frames, num_cameras=args.cameras + 1, width=args.size, height=args.size, seed=11)
    generate(body, "bench", "walk", cfg, work / "raw")
    ingest("synthetic", work / "raw", "bench", "walk", work / "capture.h5", work / "frames.h5")
    segment(body, work / "capture.h5", work / "frames.h5", work / "masks.h5", MasksConfig(method=["provided"]))  # the true masks
    heldout = f"cam{args.cameras:02d}"
    prepare(body, [(work / "capture.h5", work / "frames.h5", work / "masks.h5")], work / "dataset.h5", PrepareConfig(heldout_cameras=[heldout]), "bench")
    print(f"data: {args.size}x{args.size}, {args.cameras} training cameras + {heldout} held out, {args.frames} frames; built in {time.perf_counter() - t0:.0f} s")

    ds = load_dataset(work / "dataset.h5")
    frames = [0, args.frames // 2]
    reached: dict[str, float] = {}

    def check(field, ds_):  # called by the trainer every --check-every steps
        m = heldout_metrics(field, ds_, frames=frames)
        if m["heldout_psnr_full"] >= args.target_psnr and "wall_s" not in reached:
            reached["wall_s"] = time.perf_counter() - t_train
        return m

    tcfg = TrainConfig(iterations=args.max_steps, rays=args.rays, eval_every=args.check_every, checkpoint_every=10**9, log_every=args.check_every,
                       residual_start=args.max_steps // 3, residual_full=args.max_steps * 2 // 3, device=str(device))  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_train = time.perf_counter()
    result = train(work / "dataset.h5", work / "model.pt", work / "train", tcfg, heldout_eval=check)
    train_s = time.perf_counter() - t_train
    rays_per_s = tcfg.iterations * (tcfg.rays + tcfg.patches * tcfg.patch_size**2) / train_s

    field, _ = load_model(work / "model.pt", device)
    posed = ds.posed.to(device)
    cam = ds.cameras[heldout]
    render_image(field, posed, 0, cam)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    n = 10
    for i in range(n):
        render_image(field, posed, i % args.frames, cam)
    if device.type == "cuda":
        torch.cuda.synchronize()
    fps = n / (time.perf_counter() - t1)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"device: {name}")
    print(f"final held-out PSNR full {result.get('heldout_psnr_full')} dB, box {result.get('heldout_psnr_box')} dB, SSIM full {result.get('heldout_ssim_full')}")
    if "wall_s" in reached:
        print(f"time to {args.target_psnr} dB held-out PSNR: {reached['wall_s']:.0f} s  (instant-nvr anchor {INSTANT_NVR_TRAIN_S:.0f} s: ratio {INSTANT_NVR_TRAIN_S / reached['wall_s']:.2f})")
    else:
        print(f"held-out PSNR did not reach {args.target_psnr} dB within {args.max_steps} steps ({train_s:.0f} s)")
    print(f"training: {rays_per_s:,.0f} rays/s over {tcfg.iterations} steps in {train_s:.0f} s")
    print(f"render {cam.width}x{cam.height}: {fps:.2f} fps  (instant-nvr {INSTANT_NVR_FPS} fps: ratio {fps / INSTANT_NVR_FPS:.1f}; HumanNeRF {HUMANNERF_FPS} fps: ratio {fps / HUMANNERF_FPS:.1f})")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
