"""The fused Triton hash-grid kernel beside the PyTorch reference, on CUDA.

    python benchmarks/hashgrid.py                 # the default field (12 levels, 2^15 entries, 2 features)
    python benchmarks/hashgrid.py --points 4194304

Prints milliseconds per encoding (forward alone, as rendering runs it, and forward + backward with
point gradients, as training with the pose residual runs it), points per second, peak memory of each,
and the fused kernel's speed-up over the reference in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from ntop.nerf.field import FieldConfig
from ntop.nerf.hashgrid import HashGrid


def _time(fn, repeats: int) -> tuple[float, float]:
    """Milliseconds per call and peak memory (GiB) above what was allocated before."""
    fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats * 1e3, (torch.cuda.max_memory_allocated() - base) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2**20)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/hashgrid.py needs a CUDA device (the fused kernel is CUDA-only; tests check it on CPU in Triton's interpreter)")
    from ntop.nerf import fused

    cfg = FieldConfig()
    grid = HashGrid(cfg.levels, cfg.features, cfg.log2_table_size, cfg.base_resolution, cfg.max_resolution).cuda()
    x = torch.rand(args.points, 3, device="cuda")
    xg = x.clone().requires_grad_()
    kernels = {"reference": grid.reference, "fused": lambda p: fused.encode(p, grid.table, grid.level_table)}
    print(f"device: {torch.cuda.get_device_name(0)}; {args.points:,} points, {cfg.levels} levels x {cfg.features} features, table 2^{cfg.log2_table_size}")
    times = {}
    for name, encode in kernels.items():
        with torch.no_grad():
            fwd, fwd_mem = _time(lambda: encode(x), args.repeats)
        both, both_mem = _time(lambda: encode(xg).sum().backward(), args.repeats)
        times[name] = (fwd, both)
        print(f"{name:>9}: forward {fwd:7.2f} ms ({args.points / fwd * 1e3 / 1e9:.2f} G points/s), "
              f"peak {fwd_mem:.2f} GiB; forward + backward {both:7.2f} ms, peak {both_mem:.2f} GiB")  # fmt: skip
    (rf, rb), (ff, fb) = times["reference"], times["fused"]
    print(f"fused speed-up over the reference: forward {rf / ff:.1f}x, forward + backward {rb / fb:.1f}x")


if __name__ == "__main__":
    main()
