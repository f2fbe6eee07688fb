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

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from tqdm import tqdm

from ntop.errors import NtopError
from ntop.io import atomic_path, file_digest, provenance_record
from ntop.nerf.deform import canonical_distance
from ntop.nerf.field import CanonicalField, FieldConfig
from ntop.nerf.pixels import RaySampler
from ntop.nerf.prepare import NerfDataset, load_dataset
from ntop.nerf.render import PosedFrames, render_rays
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
    # the MLPs' rate: at 2e-3 the albedo stayed one colour for the first half of a short run and, on some
    # seeds and fitted bodies, for all of it (jeans rendered red; held-out box 21.2 dB, 24.3 dB at 1e-2)
    lr_mlp: float = 1e-2
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


def ssim_loss(a: torch.Tensor, b: torch.Tensor, window: int = 5) -> torch.Tensor:
    """1 - mean SSIM of image batches ``(B, 3, P, P)`` in [0, 1] (Gaussian window, sigma 1.5; pytorch-msssim)."""
    return 1 - ssim(a, b, data_range=1.0, win_size=window, win_sigma=1.5)


# ----------------------------------------------------------------------------------------------
# model files
# ----------------------------------------------------------------------------------------------


def save_model(
    path: str | Path,
    field: CanonicalField,
    ds: NerfDataset,
    cfg: TrainConfig,
    step: int,
    metrics: dict[str, Any],
    provenance: dict[str, Any] | None = None,
) -> None:
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
    distance = state["state_dict"].get("body_distance")
    field = CanonicalField(
        state["canonical_lo"],
        state["canonical_hi"],
        FieldConfig(**{"shading": False, **state["field_config"]}),
        None if distance is None else distance[0, 0],
    )
    field.load_state_dict(state["state_dict"])
    return field.to(device).eval(), state


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------


class _Progress:
    """A tqdm bar on a terminal; in a log file, a line every ``every`` steps instead of redraws."""

    def __init__(self, total: int, start: int, every: int):
        self.total, self.start, self.every, self.t0 = total, start, every, time.perf_counter()
        self.bar = tqdm(
            total=total, initial=start, unit="it", file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True
        )

    def update(self, step: int, text: str) -> None:
        self.bar.update(1)
        self.bar.set_postfix_str(text, refresh=False)
        if self.bar.disable and (step % self.every == 0 or step == self.total):
            rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            print(
                f"{step}/{self.total} {rate:.1f} it/s eta {(self.total - step) / max(rate, 1e-9):.0f}s {text}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()


def _body_distance(ds: NerfDataset, cfg: TrainConfig, dataset_path: str | Path) -> torch.Tensor | None:
    """The canonical body's signed distance volume a surface-bound field needs (None for a free one)."""
    if not cfg.field.surface:
        return None
    if ds.canonical_faces is None:
        raise NtopError("made before surface-bound fields: run prepare-nerf again", dataset_path, "canonical/faces")
    lo, hi = ds.canonical_lo.numpy(), ds.canonical_hi.numpy()
    return canonical_distance(ds.canonical_vertices.numpy(), ds.canonical_faces.numpy(), lo, hi)


def _optimiser(field: CanonicalField, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with the hash table and the MLPs at their own rates, decayed tenfold over the run."""
    table = [p for n, p in field.named_parameters() if n.startswith("grid.")]
    mlps = [p for n, p in field.named_parameters() if not n.startswith("grid.")]
    opt = torch.optim.Adam([{"params": table, "lr": cfg.lr}, {"params": mlps, "lr": cfg.lr_mlp}], betas=(0.9, 0.99), eps=1e-15)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 ** min(s / max(cfg.iterations, 1), 1.0))


def _save_checkpoint(
    path: Path, step: int, field: CanonicalField, opt: Any, sched: Any, sampler: RaySampler, cfg: TrainConfig, data: str
) -> None:
    state = {"step": step, "field": field.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    state.update(torch_rng=torch.get_rng_state(), numpy_rng=sampler.rng.bit_generator.state, train_config=asdict(cfg))
    state["dataset_sha256"] = data
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(
    path: Path,
    field: CanonicalField,
    opt: Any,
    sched: Any,
    sampler: RaySampler,
    cfg: TrainConfig,
    device: torch.device,
    data: str,
) -> int:
    """The step a checkpoint left off at, its state restored (0 without one, or with one made from
    another ``dataset.h5``: an interrupted run whose inputs the workflow has since remade)."""
    if not path.exists():
        return 0
    ck = torch.load(path, map_location=device, weights_only=False)
    if ck.get("dataset_sha256") != data:
        print(f"{path}: made from another dataset.h5; starting over", file=sys.stderr)
        return 0
    if ck["train_config"] != asdict(cfg):
        raise NtopError("checkpoint was made with other training settings; delete it to start over", path, "train_config")
    try:
        field.load_state_dict(ck["field"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
    except (RuntimeError, ValueError, KeyError) as e:
        message = f"checkpoint does not fit this version of the model ({type(e).__name__}); delete it to start over"
        raise NtopError(message, path, "field") from None
    torch.set_rng_state(ck["torch_rng"])
    sampler.rng.bit_generator.state = ck["numpy_rng"]
    return ck["step"]


def _residual_anneal(step: int, cfg: TrainConfig) -> float:
    """How many frequencies of the pose-dependent residual are on: none before ``residual_start``,
    all from ``residual_full``."""
    if step < cfg.residual_start:
        return 0.0
    return cfg.field.residual_freqs * min(1.0, (step - cfg.residual_start) / max(cfg.residual_full - cfg.residual_start, 1))


def _loss(
    field: CanonicalField, posed: PosedFrames, sampler: RaySampler, cfg: TrainConfig, amp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch's objective and its photometric term: rays (and patches) over a random background."""
    batch = sampler.rays(cfg.rays)
    patch = sampler.patches(cfg.patches, cfg.patch_size) if cfg.patches else None
    if patch is not None:
        batch = {k: torch.cat([batch[k], patch[k]]) for k in batch}
    mask = batch["mask"]
    bg = torch.rand(3, device=mask.device)
    target = batch["rgb"] * mask[:, None] + bg * (1 - mask[:, None])
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        out = render_rays(field, posed, batch["origins"], batch["dirs"], batch["frame"], bg, cfg.samples, perturb=True)
    rgb = out.rgb.float()
    loss_rgb = F.mse_loss(rgb, target)
    loss = loss_rgb + cfg.mask_weight * F.mse_loss(out.alpha.float(), mask)
    loss = (
        loss
        + cfg.offset_weight * out.offset_sq.float()
        + cfg.outside_weight * out.outside.float()
        + cfg.inside_weight * out.inside.float()
    )
    if patch is not None:
        P, n = cfg.patch_size, cfg.patches * cfg.patch_size**2
        to_img = lambda x: x[-n:].reshape(cfg.patches, P, P, 3).permute(0, 3, 1, 2)  # noqa: E731
        loss = loss + cfg.ssim_weight * ssim_loss(to_img(rgb), to_img(target))
    return loss, loss_rgb


def _step(opt: torch.optim.Optimizer, sched: Any, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()


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
    device, workdir, ds = resolve_device(cfg.device, "nerf.train.device"), Path(workdir), load_dataset(dataset_path)
    workdir.mkdir(parents=True, exist_ok=True)
    if cfg.field.shading is None:
        cfg = replace(cfg, field=replace(cfg.field, shading=len(ds.train_cameras) > 1))
    torch.manual_seed(cfg.seed)
    field = CanonicalField(ds.canonical_lo, ds.canonical_hi, cfg.field, _body_distance(ds, cfg, dataset_path)).to(device)
    opt, sched = _optimiser(field, cfg)
    sampler = RaySampler(ds, device, cfg.seed)
    posed = ds.posed.to(device)
    ckpt_path, log_path = workdir / "checkpoint.pt", workdir / "train_log.jsonl"
    data = file_digest(dataset_path)
    start = _resume(ckpt_path, field, opt, sched, sampler, cfg, device, data)
    if not start and log_path.exists():
        log_path.unlink()  # a fresh start: the log describes this run only
    amp = cfg.amp and device.type == "cuda"
    last = cfg.iterations if stop_after is None else min(stop_after, cfg.iterations)
    progress = _Progress(cfg.iterations, start, cfg.log_every)
    metrics: dict[str, Any] = {}
    ema = None  # the per-batch loss is noisy (random background colour): log a smoothed one too
    with log_path.open("a") as log:
        for step in range(start + 1, last + 1):
            field.anneal.fill_(_residual_anneal(step, cfg))
            loss, loss_rgb = _loss(field, posed, sampler, cfg, amp)
            _step(opt, sched, loss)
            psnr = float(-10 * torch.log10(loss_rgb.detach().clamp(min=1e-10)))
            ema = float(loss.detach()) if ema is None else 0.9 * ema + 0.1 * float(loss.detach())
            record: dict[str, Any] = {"step": step, "loss": round(float(loss.detach()), 6), "loss_ema": round(ema, 6)}
            record["train_psnr"] = round(psnr, 3)
            if heldout_eval is not None and (step % cfg.eval_every == 0 or step == cfg.iterations):
                metrics = heldout_eval(field.eval(), ds)
                field.train()
                record.update(metrics)
            if step % cfg.log_every == 0 or "heldout_psnr_box" in record:
                log.write(json.dumps(record) + "\n")
                log.flush()
            progress.update(step, f"loss {ema:.4f} psnr {psnr:.2f}")
            if step % cfg.checkpoint_every == 0 or step == last:
                _save_checkpoint(ckpt_path, step, field, opt, sched, sampler, cfg, data)
    progress.close()
    if last < cfg.iterations:
        return {"steps": last, "resumed_from": start, "stopped_early": True, **metrics}
    provenance = provenance_record("nerf-model", asdict(cfg), [dataset_path])
    save_model(model_out, field.eval(), ds, cfg, cfg.iterations, metrics, provenance)
    ckpt_path.unlink()  # finished: a rerun starts over (the model file is the result)
    return {"steps": cfg.iterations, "resumed_from": start, **metrics}
