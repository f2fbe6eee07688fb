"""Multi-resolution hash-grid encoding (instant-NGP), the reference kernel in plain PyTorch.

Points in ``[0, 1]^3`` are looked up at ``levels`` grid resolutions growing geometrically from
``base_resolution`` to ``max_resolution``. Coarse levels whose grid fits in the table are indexed
densely (no collisions); finer levels hash their corners into ``2**log2_table_size`` entries with
instant-NGP's primes. Each level returns ``features`` values trilinearly interpolated from the eight
corners; the output concatenates the levels ``(N, levels * features)``. The reference runs on CPU and
CUDA, its backward pass autograd's scatter-add into the tables; on CUDA the fused Triton kernel
(``ntop.nerf.fused``) replaces it when Triton is there and ``NTOP_FUSED`` is not ``0``.
"""

from __future__ import annotations

import functools
import math
import os
from types import ModuleType

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
        dense = [(r + 1) ** 3 <= self.table_size for r in res]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.res, self.sizes, self.dense, self.offsets = res, sizes, dense, offsets[:-1]  # Python ints: no device syncs
        self.register_buffer(
            "level_table", torch.tensor([res, sizes, offsets[:-1], dense], dtype=torch.int64), persistent=False
        )  # the fused kernel's
        self.table = torch.nn.Parameter(torch.empty(offsets[-1], features).uniform_(-1e-4, 1e-4))

    @property
    def out_dim(self) -> int:
        return self.levels * self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = _fused() if x.is_cuda else None
        if fused is not None and fused.supports(self.features):
            return fused.encode(x, self.table, self.level_table)
        return self.reference(x)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The encoding in plain PyTorch ops: any device, and the yardstick for the fused kernel."""
        x = x.clamp(0.0, 1.0)
        corners = _CORNERS.to(x.device)
        out = []
        for level in range(self.levels):
            res = self.res[level]
            pos = x * res
            base = torch.floor(pos).long().clamp(max=res - 1)
            frac = pos - base  # (N, 3)
            idx = base[:, None, :] + corners[None]  # (N, 8, 3)
            if self.dense[level]:
                key = (idx[..., 0] * (res + 1) + idx[..., 1]) * (res + 1) + idx[..., 2]
            else:
                key = (idx[..., 0] * _PRIMES[0]) ^ (idx[..., 1] * _PRIMES[1]) ^ (idx[..., 2] * _PRIMES[2])
                key = key % self.sizes[level]
            # index_select: the fastest gather/scatter pair on CPU for this access pattern
            feats = self.table.index_select(0, (key + self.offsets[level]).reshape(-1)).reshape(len(x), 8, self.features)
            wx, wy, wz = (torch.stack([1 - frac[:, i], frac[:, i]], -1) for i in range(3))
            w = (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(-1, 8)  # corner order x, y, z bits
            out.append((feats * w[..., None]).sum(1))
        return torch.cat(out, -1)


@functools.cache
def _fused() -> ModuleType | None:
    """The fused kernel's module, or None where Triton is missing or ``NTOP_FUSED=0`` turns it off."""
    if os.environ.get("NTOP_FUSED", "1") == "0":
        return None
    try:
        from ntop.nerf import fused
    except ImportError:
        return None
    return fused
