"""Multi-resolution hash-grid encoding (instant-NGP), the reference kernel in plain PyTorch.

Points in ``[0, 1]^3`` are looked up at ``levels`` grid resolutions growing geometrically from
``base_resolution`` to ``max_resolution``. Coarse levels whose grid fits in the table are indexed
densely (no collisions); finer levels hash their corners into ``2**log2_table_size`` entries with
instant-NGP's primes. Each level returns ``features`` values trilinearly interpolated from the eight
corners; the output concatenates the levels ``(N, levels * features)``. Runs on CPU and CUDA; the
backward pass is autograd's scatter-add into the tables.
"""

from __future__ import annotations

import math

import torch

__all__ = ["HashGrid"]

_PRIMES = (1, 2654435761, 805459861)
_CORNERS = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])


class HashGrid(torch.nn.Module):
    """``forward(x (N, 3) in [0, 1]) -> (N, levels * features)``."""

    def __init__(
        self,
        levels: int = 12,
        features: int = 2,
        log2_table_size: int = 15,
        base_resolution: int = 16,
        max_resolution: int = 512,
    ):
        super().__init__()
        self.levels, self.features, self.table_size = levels, features, 2**log2_table_size
        growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
        res = [int(math.floor(base_resolution * growth**i)) for i in range(levels)]
        sizes = [min((r + 1) ** 3, self.table_size) for r in res]
        self.register_buffer("resolution", torch.tensor(res), persistent=False)
        self.register_buffer("dense", torch.tensor([(r + 1) ** 3 <= self.table_size for r in res]), persistent=False)
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.register_buffer("offsets", torch.tensor(offsets), persistent=False)
        self.sizes = sizes
        self.table = torch.nn.Parameter(torch.empty(offsets[-1], features).uniform_(-1e-4, 1e-4))

    @property
    def out_dim(self) -> int:
        return self.levels * self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        corners = _CORNERS.to(x.device)
        out = []
        for level in range(self.levels):
            res = int(self.resolution[level])
            pos = x * res
            base = torch.floor(pos).long().clamp(max=res - 1)
            frac = pos - base  # (N, 3)
            idx = base[:, None, :] + corners[None]  # (N, 8, 3)
            if bool(self.dense[level]):
                key = (idx[..., 0] * (res + 1) + idx[..., 1]) * (res + 1) + idx[..., 2]
            else:
                key = (idx[..., 0] * _PRIMES[0]) ^ (idx[..., 1] * _PRIMES[1]) ^ (idx[..., 2] * _PRIMES[2])
                key = key % self.sizes[level]
            # index_select: the fastest gather/scatter pair on CPU for this access pattern
            feats = self.table.index_select(0, (key + int(self.offsets[level])).reshape(-1)).reshape(len(x), 8, self.features)
            wx, wy, wz = (torch.stack([1 - frac[:, i], frac[:, i]], -1) for i in range(3))
            w = (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(-1, 8)  # corner order x, y, z bits
            out.append((feats * w[..., None]).sum(1))
        return torch.cat(out, -1)
