"""``train_nerf``: fit the canonical field to a subject's frames; resumable, seeded, logged.

Each step draws rays biased to where the information is (the body, its silhouette edge, then the
body's box) plus a few square patches for a structural (SSIM) loss, composites them over a random
background colour (so that opacity must be learned, not painted), and minimises photometric error,
opacity-vs-mask error, 1 - SSIM on the patches, the size of the residual offsets and (a weak prior)
opacity outside the SMPL surface, which keeps parts no camera saw well at the body's own shape. Checkpoints are
written atomically every ``checkpoint_every`` steps; a restarted run continues from the last one.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ntop.errors import NtopError
from ntop.io import atomic_path, provenance_record
from ntop.nerf.field import CanonicalField, FieldConfig
from ntop.nerf.prepare import NerfDataset, load_dataset
from ntop.nerf.render import render_rays
from ntop.settings import resolve_device, settings_from_dict

__all__ = ["TrainConfig", "train", "load_model", "save_model", "MODEL_FORMAT"]

MODEL_FORMAT = "ntop-nerf/1"


@dataclass
class TrainConfig:
    iterations: int = 3000
    rays: int = 1024
    patches: int = 2
    patch_size: int = 16
    samples: int = 64
    lr: float = 1e-2
    lr_mlp: float = 2e-3
    mask_weight: float = 0.1
    ssim_weight: float = 0.2
    offset_weight: float = 10.0
    outside_weight: float = 0.05  # prior: no opacity outside the SMPL surface unless the images demand it
    inside_weight: float = 0.0  # prior: opacity inside it, where no camera looked (one camera: set it, e.g. 0.05)
    residual_start: int = 1000
    residual_full: int = 2500
    checkpoint_every: int = 500
    eval_every: int = 500
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    field: FieldConfig | None = None  # a dict from config files is converted

    def __post_init__(self) -> None:
        if self.field is None:
            self.field = FieldConfig()
        elif isinstance(self.field, dict):
            self.field = FieldConfig(**self.field)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "nerf.train") -> "TrainConfig":
        return settings_from_dict(cls, d, where)


# ----------------------------------------------------------------------------------------------
# rays
# ----------------------------------------------------------------------------------------------


class RaySampler:
    """Training rays from every (camera, frame) of the training cameras, biased to the body.

    Cameras of different sizes (a rig's 1080- and 1088-pixel-wide videos) share one grid of the largest
    size; a camera's pixels beyond its own size are never sampled."""

    def __init__(self, ds: NerfDataset, device: torch.device, seed: int):
        cams = [ds.cameras[n] for n in ds.train_cameras]
        self.H, self.W, self.T, self.C = max(c.height for c in cams), max(c.width for c in cams), ds.num_frames, len(cams)
        self.device = device
        self.rng = np.random.default_rng(seed)
        dirs, origins = [], []
        for cam in cams:
            o, d, _ = cam.world_rays(cam.pixel_grid())
            dirs.append(torch.as_tensor(self._padded(d, 0), dtype=torch.float32).reshape(-1, 3))
            origins.append(torch.as_tensor(cam.center, dtype=torch.float32))
        self.dirs = torch.stack(dirs).to(device)  # (C, H*W, 3)
        self.origins = torch.stack(origins).to(device)  # (C, 3)
        images = np.stack([self._padded(ds.images[n], 1) for n in ds.train_cameras])
        self.images = torch.as_tensor(images).to(device)  # (C, T, H, W, 3)
        self.masks = torch.as_tensor(np.stack([self._padded(ds.masks[n], 1) for n in ds.train_cameras])).to(device)
        pools: dict[str, list[np.ndarray]] = {"body": [], "edge": [], "box": []}
        self.boxes = np.zeros((self.C, self.T, 4), np.int64)  # x0, y0, x1, y1 of the dilated mask
        k3, k7 = np.ones((7, 7), np.uint8), np.ones((15, 15), np.uint8)
        for c, name in enumerate(ds.train_cameras):
            h, w = cams[c].height, cams[c].width
            inside = self._padded(np.ones((h, w), np.uint8), 0)
            for t in range(self.T):
                m = self._padded(ds.masks[name][t], 0).astype(np.uint8)
                base = (c * self.T + t) * self.H * self.W
                grown, wide, shrunk = cv2.dilate(m, k3) & inside, cv2.dilate(m, k7) & inside, cv2.erode(m, k3)
                pools["body"].append(base + np.flatnonzero(grown))
                pools["edge"].append(base + np.flatnonzero(wide & ~shrunk))
                ys, xs = np.nonzero(wide) if wide.any() else (np.array([0, h - 1]), np.array([0, w - 1]))
                x0, y0 = max(xs.min() - 16, 0), max(ys.min() - 16, 0)
                x1, y1 = min(xs.max() + 16, w - 1), min(ys.max() + 16, h - 1)
                self.boxes[c, t] = (x0, y0, x1, y1)
                yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
                pools["box"].append(base + (yy * self.W + xx).reshape(-1))
        self.pools = {k: np.concatenate(v) for k, v in pools.items()}

    def _padded(self, a: np.ndarray, axis: int) -> np.ndarray:
        """``a`` with its image axes (``axis``, ``axis + 1``) padded at the bottom and right to the shared grid."""
        pad = [(0, 0)] * a.ndim
        pad[axis], pad[axis + 1] = (0, self.H - a.shape[axis]), (0, self.W - a.shape[axis + 1])
        return np.pad(a, pad)

    def _gather(self, ids: np.ndarray) -> dict[str, torch.Tensor]:
        ids_t = torch.as_tensor(ids, device=self.device)
        pix = ids_t % (self.H * self.W)
        ct = ids_t // (self.H * self.W)
        c, t = ct // self.T, ct % self.T
        y, x = pix // self.W, pix % self.W
        return {
            "origins": self.origins[c],
            "dirs": self.dirs[c, pix],
            "frame": t,
            "rgb": self.images[c, t, y, x].float() / 255,
            "mask": self.masks[c, t, y, x].float(),
        }

    def rays(self, n: int) -> dict[str, torch.Tensor]:
        counts = {"body": n // 2, "edge": n // 4}
        counts["box"] = n - counts["body"] - counts["edge"]
        ids = np.concatenate([self.pools[k][self.rng.integers(0, len(self.pools[k]), m)] for k, m in counts.items()])
        return self._gather(ids)

    def patches(self, count: int, size: int) -> dict[str, torch.Tensor]:
        ids = []
        for _ in range(count):
            c, t = self.rng.integers(self.C), self.rng.integers(self.T)
            x0, y0, x1, y1 = self.boxes[c, t]
            x = self.rng.integers(x0, max(x1 - size + 1, x0 + 1))
            y = self.rng.integers(y0, max(y1 - size + 1, y0 + 1))
            x, y = min(x, self.W - size), min(y, self.H - size)
            yy, xx = np.mgrid[y : y + size, x : x + size]
            ids.append((c * self.T + t) * self.H * self.W + (yy * self.W + xx).reshape(-1))
        return self._gather(np.concatenate(ids))


def ssim_loss(a: torch.Tensor, b: torch.Tensor, window: int = 5) -> torch.Tensor:
    """1 - mean SSIM of image batches ``(B, 3, P, P)`` (Gaussian window, sigma 1.5)."""
    g = torch.exp(-((torch.arange(window, device=a.device, dtype=a.dtype) - window // 2) ** 2) / (2 * 1.5**2))
    g = (g[:, None] * g[None, :]) / g.sum() ** 2
    kernel = g.expand(3, 1, window, window)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return 1 - s.mean()


# ----------------------------------------------------------------------------------------------
# model files
# ----------------------------------------------------------------------------------------------


def save_model(path: str | Path, field: CanonicalField, ds: NerfDataset, cfg: TrainConfig, step: int, metrics: dict[str, Any],
               provenance: dict[str, Any] | None = None) -> None:  # fmt: skip
    state = {
        "provenance": provenance,
        "format": MODEL_FORMAT,
        "subject": ds.subject,
        "field_config": field.config(),
        "canonical_lo": field.lo.cpu(),
        "canonical_hi": field.hi.cpu(),
        "state_dict": {k: v.cpu() for k, v in field.state_dict().items()},
        "betas": torch.as_tensor(ds.betas),
        "train_config": asdict(cfg),
        "steps": step,
        "metrics": metrics,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[CanonicalField, dict[str, Any]]:
    """The trained field and the model file's metadata (subject, betas, metrics, configs)."""
    path = Path(path)
    if not path.is_file():
        raise NtopError("model file not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise NtopError(f"cannot read model ({type(e).__name__})", path) from None
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise NtopError(f"not an ntop NeRF model (expected format {MODEL_FORMAT})", path, "format")
    # a model saved before the field learnt its capture's lighting has no ``shading`` key: it had none
    field = CanonicalField(state["canonical_lo"], state["canonical_hi"], FieldConfig(**{"shading": False, **state["field_config"]}))
    field.load_state_dict(state["state_dict"])
    return field.to(device).eval(), state


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------


class _Progress:
    """A progress bar on a terminal, a line every ``every`` steps in a log file."""

    def __init__(self, total: int, every: int):
        self.total, self.every, self.t0 = total, every, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, start: int, text: str) -> None:
        if not self.tty and step % self.every and step != self.total:
            return
        rate = (step - start) / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - step) / max(rate, 1e-9)
        bar = "#" * int(30 * step / self.total)
        line = f"[{bar:<30s}] {step}/{self.total} {rate:.1f} it/s eta {eta:.0f}s {text}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)


def train(
    dataset_path: str | Path,
    model_out: str | Path,
    workdir: str | Path,
    cfg: TrainConfig,
    heldout_eval: Any = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) and write the final model; ``heldout_eval(field, ds) -> dict`` is logged.

    ``stop_after`` ends the run early at that step, checkpointed and without a model (a time-limited
    cluster slot); the next call resumes from it.
    """
    device = resolve_device(cfg.device, "nerf.train.device")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(dataset_path)
    if cfg.field.shading is None:
        cfg = replace(cfg, field=replace(cfg.field, shading=len(ds.train_cameras) > 1))
    provenance = provenance_record("nerf-model", asdict(cfg), [dataset_path])
    torch.manual_seed(cfg.seed)
    field = CanonicalField(ds.canonical_lo, ds.canonical_hi, cfg.field).to(device)
    table = [p for n, p in field.named_parameters() if n.startswith("grid.")]
    mlps = [p for n, p in field.named_parameters() if not n.startswith("grid.")]
    opt = torch.optim.Adam([{"params": table, "lr": cfg.lr}, {"params": mlps, "lr": cfg.lr_mlp}], betas=(0.9, 0.99), eps=1e-15)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 ** min(s / max(cfg.iterations, 1), 1.0))
    sampler = RaySampler(ds, device, cfg.seed)
    posed = ds.posed.to(device)
    ckpt_path, log_path = workdir / "checkpoint.pt", workdir / "train_log.jsonl"
    start = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["train_config"] != asdict(cfg):
            raise NtopError("checkpoint was made with other training settings; delete it to start over", ckpt_path, "train_config")
        try:
            field.load_state_dict(ck["field"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise NtopError(f"checkpoint does not fit this version of the model ({type(e).__name__}); delete it to start over", ckpt_path, "field") from None
        torch.set_rng_state(ck["torch_rng"])
        sampler.rng.bit_generator.state = ck["numpy_rng"]
        start = ck["step"]
    elif log_path.exists():
        log_path.unlink()  # a fresh start: the log describes this run only
    amp = cfg.amp and device.type == "cuda"
    progress = _Progress(cfg.iterations, cfg.log_every)
    metrics: dict[str, Any] = {}
    ema = None  # the per-batch loss is noisy (random background colour): log a smoothed one too
    with log_path.open("a") as log:
        last = cfg.iterations if stop_after is None else min(stop_after, cfg.iterations)
        for step in range(start + 1, last + 1):
            anneal = 0.0 if step < cfg.residual_start else cfg.field.residual_freqs * min(1.0, (step - cfg.residual_start) / max(cfg.residual_full - cfg.residual_start, 1))
            field.anneal.fill_(anneal)
            batch = sampler.rays(cfg.rays)
            patch = sampler.patches(cfg.patches, cfg.patch_size) if cfg.patches else None
            if patch is not None:
                batch = {k: torch.cat([batch[k], patch[k]]) for k in batch}
            bg = torch.rand(3, device=device)
            target = batch["rgb"] * batch["mask"][:, None] + bg * (1 - batch["mask"][:, None])
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                out = render_rays(field, posed, batch["origins"], batch["dirs"], batch["frame"], bg, cfg.samples, perturb=True)
            rgb = out.rgb.float()
            loss_rgb = F.mse_loss(rgb, target)
            loss = loss_rgb + cfg.mask_weight * F.mse_loss(out.alpha.float(), batch["mask"]) + cfg.offset_weight * out.offset_sq.float() + cfg.outside_weight * out.outside.float() + cfg.inside_weight * out.inside.float()
            if patch is not None:
                P, n = cfg.patch_size, cfg.patches * cfg.patch_size**2
                to_img = lambda x: x[-n:].reshape(cfg.patches, P, P, 3).permute(0, 3, 1, 2)  # noqa: E731
                loss = loss + cfg.ssim_weight * ssim_loss(to_img(rgb), to_img(target))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            psnr = float(-10 * torch.log10(loss_rgb.detach().clamp(min=1e-10)))
            ema = float(loss.detach()) if ema is None else 0.9 * ema + 0.1 * float(loss.detach())
            record: dict[str, Any] = {"step": step, "loss": round(float(loss.detach()), 6), "loss_ema": round(ema, 6), "train_psnr": round(psnr, 3)}
            if heldout_eval is not None and (step % cfg.eval_every == 0 or step == cfg.iterations):
                field.eval()
                metrics = heldout_eval(field, ds)
                field.train()
                record.update(metrics)
            if step % cfg.log_every == 0 or "heldout_psnr_box" in record:
                log.write(json.dumps(record) + "\n")
                log.flush()
            progress.update(step, start, f"loss {ema:.4f} psnr {psnr:.2f}")
            if step % cfg.checkpoint_every == 0 or step == last:
                with atomic_path(ckpt_path) as tmp:
                    torch.save({"step": step, "field": field.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                "torch_rng": torch.get_rng_state(), "numpy_rng": sampler.rng.bit_generator.state, "train_config": asdict(cfg)}, tmp)  # fmt: skip
    if progress.tty:
        print(file=sys.stderr)
    if last < cfg.iterations:
        return {"steps": last, "resumed_from": start, "stopped_early": True, **metrics}
    save_model(model_out, field.eval(), ds, cfg, cfg.iterations, metrics, provenance)
    ckpt_path.unlink()  # finished: a rerun starts over (the model file is the result)
    return {"steps": cfg.iterations, "resumed_from": start, **metrics}
