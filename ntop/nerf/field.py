"""The canonical human field: hash-grid density and colour, plus a small pose-conditioned residual.

Inputs are canonical-space points (the big pose, metres). The residual offset is what lets the
field absorb clothing motion that skinning cannot; it is introduced coarse to fine (its positional
encoding frequencies open one by one) and is bounded, so the body cannot drift from its SMPL pose.

Colour is albedo times lighting: a capture's lights stay where they are while the body turns, so a
surface point is bright in one frame and dark in the next. The canonical field holds the albedo; the
lighting is nine spherical-harmonic coefficients per channel, one set per subject, evaluated at the
posed surface's world normal (from the posed distance volume). Without it the field can only learn
each point's mean shade, and every frame seen lit differently from that mean is rendered wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ntop.nerf.hashgrid import HashGrid

__all__ = ["FieldConfig", "CanonicalField", "laplace_density"]


@dataclass
class FieldConfig:
    levels: int = 12
    features: int = 2
    log2_table_size: int = 15
    base_resolution: int = 16
    max_resolution: int = 512
    width: int = 64
    geo_features: int = 15
    residual: bool = True
    residual_freqs: int = 6
    residual_max_m: float = 0.03
    support_inside: float = 0.05  # metres inside the SMPL surface where the field lives
    support_outside: float = 0.03  # metres outside it: how far clothing and hair may reach
    # colour = canonical albedo x the capture's fixed lighting at the posed normal; None: on with two or
    # more training cameras (one camera sees each normal from one side: lighting and albedo blur together)
    shading: bool | None = None
    # density bound to the body's surface: VolSDF's Laplace density (beta metres wide) of the signed distance to
    # the canonical body, moved by a learnt bulge: a thin shell where the labels' body is, which the views colour
    # but cannot carve into a fog, as they do a free density when their masks and the fitted body disagree
    surface: bool = False
    surface_beta_m: float = 0.003
    surface_bulge_m: float = 0.01  # how far the learnt surface may move from the body's, either way
    surface_spacing_m: float = 0.0025  # samples along a ray's part in the support band (ntop.nerf.sampling.sample_surface)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def sh2_basis(n: torch.Tensor) -> torch.Tensor:
    """Real spherical harmonics up to order 2 ``(N, 9)`` of unit vectors ``(N, 3)`` (constant term 1): a
    Lambertian surface's irradiance under any fixed distant lighting is this basis times 9 coefficients
    to within a few per cent (Ramamoorthi and Hanrahan, 2001)."""
    x, y, z = n.unbind(-1)
    one = torch.ones_like(x)
    return torch.stack([one, y, z, x, x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y], -1)


def laplace_density(d: torch.Tensor, beta: float) -> torch.Tensor:
    """VolSDF's density of a signed distance ``d`` (negative inside): ``(1/beta)`` times the Laplace CDF of
    ``-d`` with scale ``beta``: opaque a few ``beta`` inside the surface, empty a few outside."""
    e = 0.5 * torch.exp(-d.abs() / beta)
    return torch.where(d > 0, e, 1 - e) / beta


class CanonicalField(nn.Module):
    """``forward(x (N, 3) canonical metres, pose (N, 69)) -> sigma (N,), rgb (N, 3), offset (N, 3)``.

    ``anneal`` (a buffer, saved with the model) is how far the residual's frequencies are open: the
    trainer raises it; rendering uses the value training ended with.
    """

    def __init__(
        self, lo: torch.Tensor, hi: torch.Tensor, cfg: FieldConfig = FieldConfig(), body_distance: torch.Tensor | None = None
    ):
        """``body_distance (D, H, W)``: the canonical body's signed distance over ``lo``-``hi`` (voxel axes z, y,
        x), which a surface-bound field's density follows."""
        super().__init__()
        self.cfg = cfg
        self.register_buffer("lo", lo.float().clone())
        self.register_buffer("hi", hi.float().clone())
        if cfg.surface:
            if body_distance is None:
                raise ValueError("a surface-bound field needs the canonical body's distance volume")
            self.register_buffer("body_distance", body_distance.float().clone()[None, None])
        self.register_buffer("anneal", torch.zeros(()))
        self.grid = HashGrid(cfg.levels, cfg.features, cfg.log2_table_size, cfg.base_resolution, cfg.max_resolution)
        self.density = _mlp([self.grid.out_dim, cfg.width, 1 + cfg.geo_features])
        self.colour = _mlp([cfg.geo_features, cfg.width, 3])
        if cfg.shading:  # irradiance per colour channel, second-order spherical harmonics of the normal
            self.irradiance = nn.Parameter(torch.zeros(9, 3))
            with torch.no_grad():
                self.irradiance[0] = 1.0  # starts unlit: the albedo alone
        if cfg.residual:
            self.pose_code = nn.Linear(69, 16)
            self.residual = _mlp([3 + 6 * cfg.residual_freqs + 16, cfg.width, cfg.width, 3])
            nn.init.zeros_(self.residual[-1].weight)
            nn.init.zeros_(self.residual[-1].bias)

    def config(self) -> dict:
        return asdict(self.cfg)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.lo) / (self.hi - self.lo)

    def offset(self, x: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Residual displacement (metres); ``self.anneal`` in [0, freqs] opens the encoding frequencies."""
        anneal = float(self.anneal)
        if not self.cfg.residual or anneal <= 0:
            return torch.zeros_like(x)
        u = self.normalise(x) * 2 - 1
        k = torch.arange(self.cfg.residual_freqs, device=x.device, dtype=x.dtype)
        window = (1 - torch.cos(math.pi * torch.clamp(anneal - k, 0, 1))) / 2  # Hann window per frequency
        ang = u[:, None, :] * (2**k)[None, :, None] * math.pi  # (N, F, 3)
        enc = torch.cat([torch.sin(ang), torch.cos(ang)], -1) * window[None, :, None]
        h = torch.cat([u, enc.flatten(1), self.pose_code(pose)], -1)
        return torch.tanh(self.residual(h)) * self.cfg.residual_max_m

    def surface_distance(self, u: torch.Tensor) -> torch.Tensor:
        """The canonical body's signed distance (metres) at normalised canonical points ``u (N, 3)``."""
        coords = (u * 2 - 1).to(self.body_distance.dtype).reshape(1, -1, 1, 1, 3)
        return F.grid_sample(self.body_distance, coords, align_corners=True, padding_mode="border").reshape(-1).to(u.dtype)

    def forward(
        self, x: torch.Tensor, pose: torch.Tensor, normal: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``normal (N, 3)``: the posed surface's world normal, needed when ``cfg.shading``."""
        off = self.offset(x, pose)
        u = self.normalise(x + off)
        inside = (u >= 0).all(-1) & (u <= 1).all(-1)
        h = self.density(self.grid(u))
        if self.cfg.surface:
            bulge = self.cfg.surface_bulge_m * torch.tanh(h[:, 0])
            sigma = laplace_density(self.surface_distance(u) - bulge, self.cfg.surface_beta_m) * inside
        else:
            sigma = torch.exp(torch.clamp(h[:, 0], max=15.0)) * inside
        rgb = torch.sigmoid(self.colour(h[:, 1:]))
        if self.cfg.shading:
            if normal is None:
                raise ValueError("a shaded field needs the posed normals")
            rgb = rgb * (sh2_basis(normal) @ self.irradiance).clamp(min=0)
        return sigma, rgb, off
