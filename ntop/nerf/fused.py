"""The hash-grid encoding fused into one Triton kernel each way, for CUDA.

The reference (``HashGrid.reference``) builds eight corner indices, gathers and weights per level as
separate PyTorch ops: about 20 full-size intermediate tensors per level, 12 levels, for every sample
of every ray. Here one program takes a block of points through every level in registers and writes
only the encoding; the backward pass recomputes the corners and scatter-adds into the table with
atomics (and, when the points need a gradient, accumulates it in place). The arithmetic is the
reference's, corner for corner, so the two agree to float rounding.

``HashGrid`` picks this kernel for CUDA tensors when Triton imports (it ships with CUDA builds of
torch) and ``NTOP_FUSED`` is not ``0``. Under ``TRITON_INTERPRET=1`` the same kernels run on CPU
tensors, which is how the tests check them on machines without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["encode", "supports"]

_BLOCK = 128
_OPTIONS = {"enable_fp_fusion": True}  # fused multiply-adds, said outright (Triton warns when it is left to its default)


@triton.jit
def _corner(b0, b1, b2, f0, f1, f2, res, size, dense, C: tl.constexpr):
    """Table row and trilinear weight of corner ``C`` (bits x, y, z as in the reference)."""
    cx: tl.constexpr = (C >> 2) & 1
    cy: tl.constexpr = (C >> 1) & 1
    cz: tl.constexpr = C & 1
    i0, i1, i2 = b0 + cx, b1 + cy, b2 + cz
    w0 = f0 if cx else 1.0 - f0
    w1 = f1 if cy else 1.0 - f1
    w2 = f2 if cz else 1.0 - f2
    side = res + 1
    key_dense = (i0 * side + i1) * side + i2
    key_hash = (i0 ^ (i1 * tl.full((), 2654435761, tl.int64)) ^ (i2 * tl.full((), 805459861, tl.int64))) % size
    return tl.where(dense != 0, key_dense, key_hash), w0, w1, w2


@triton.jit
def _level_frame(x0, x1, x2, level_ptr, levels, level):
    """A level's resolution, table size, offset, dense flag (rows of ``HashGrid.level_table``), base corner and fractions."""
    res = tl.load(level_ptr + level)
    size = tl.load(level_ptr + levels + level)
    off = tl.load(level_ptr + 2 * levels + level)
    dense = tl.load(level_ptr + 3 * levels + level)
    resf = res.to(tl.float32)
    p0, p1, p2 = x0 * resf, x1 * resf, x2 * resf
    b0 = tl.minimum(tl.floor(p0).to(tl.int64), res - 1)
    b1 = tl.minimum(tl.floor(p1).to(tl.int64), res - 1)
    b2 = tl.minimum(tl.floor(p2).to(tl.int64), res - 1)
    return res, size, off, dense, resf, b0, b1, b2, p0 - b0.to(tl.float32), p1 - b1.to(tl.float32), p2 - b2.to(tl.float32)


@triton.jit
def _block(x_ptr, n, F: tl.constexpr, BLOCK: tl.constexpr):
    """This program's rows, their masks (rows; rows x features) and its points' coordinates as given."""
    rows = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    live = rows < n
    cols = tl.arange(0, F)
    both = live[:, None] & (cols[None, :] < F)
    r0 = tl.load(x_ptr + rows * 3, mask=live, other=0.0)
    r1 = tl.load(x_ptr + rows * 3 + 1, mask=live, other=0.0)
    r2 = tl.load(x_ptr + rows * 3 + 2, mask=live, other=0.0)
    return rows, live, cols, both, r0, r1, r2


@triton.jit
def _encode_fwd(x_ptr, table_ptr, out_ptr, level_ptr, n, levels, F: tl.constexpr, BLOCK: tl.constexpr):
    rows, live, cols, both, r0, r1, r2 = _block(x_ptr, n, F, BLOCK)
    x0, x1, x2 = tl.clamp(r0, 0.0, 1.0), tl.clamp(r1, 0.0, 1.0), tl.clamp(r2, 0.0, 1.0)
    for level in range(levels):
        res, size, off, dense, resf, b0, b1, b2, f0, f1, f2 = _level_frame(x0, x1, x2, level_ptr, levels, level)
        acc = tl.zeros((BLOCK, F), dtype=tl.float32)
        for c in tl.static_range(8):
            key, w0, w1, w2 = _corner(b0, b1, b2, f0, f1, f2, res, size, dense, c)
            feats = tl.load(table_ptr + (off + key)[:, None] * F + cols[None, :], mask=both, other=0.0)
            acc += feats * (w0 * w1 * w2)[:, None]
        tl.store(out_ptr + rows[:, None] * (levels * F) + level * F + cols[None, :], acc, mask=both)


@triton.jit
def _encode_bwd(
    x_ptr,
    table_ptr,
    grad_ptr,
    gtable_ptr,
    gx_ptr,
    level_ptr,
    n,
    levels,
    F: tl.constexpr,
    BLOCK: tl.constexpr,
    WANT_X: tl.constexpr,
):
    rows, live, cols, both, r0, r1, r2 = _block(x_ptr, n, F, BLOCK)
    x0, x1, x2 = tl.clamp(r0, 0.0, 1.0), tl.clamp(r1, 0.0, 1.0), tl.clamp(r2, 0.0, 1.0)
    g0 = tl.zeros((BLOCK,), dtype=tl.float32)
    g1 = tl.zeros((BLOCK,), dtype=tl.float32)
    g2 = tl.zeros((BLOCK,), dtype=tl.float32)
    for level in range(levels):
        res, size, off, dense, resf, b0, b1, b2, f0, f1, f2 = _level_frame(x0, x1, x2, level_ptr, levels, level)
        g = tl.load(grad_ptr + rows[:, None] * (levels * F) + level * F + cols[None, :], mask=both, other=0.0)
        for c in tl.static_range(8):
            key, w0, w1, w2 = _corner(b0, b1, b2, f0, f1, f2, res, size, dense, c)
            where = (off + key)[:, None] * F + cols[None, :]
            tl.atomic_add(gtable_ptr + where, g * (w0 * w1 * w2)[:, None], mask=both)
            if WANT_X:
                # d(weight)/d(fraction) is +-1 on the corner's own axis; d(fraction)/dx is the resolution
                dot = tl.sum(g * tl.load(table_ptr + where, mask=both, other=0.0), axis=1) * resf
                g0 += dot * (2.0 * ((c >> 2) & 1) - 1.0) * w1 * w2
                g1 += dot * (2.0 * ((c >> 1) & 1) - 1.0) * w0 * w2
                g2 += dot * (2.0 * (c & 1) - 1.0) * w0 * w1
    if WANT_X:  # clamp passes the gradient on [0, 1], ends included, as torch's does
        tl.store(gx_ptr + rows * 3, tl.where((r0 >= 0.0) & (r0 <= 1.0), g0, 0.0), mask=live)
        tl.store(gx_ptr + rows * 3 + 1, tl.where((r1 >= 0.0) & (r1 <= 1.0), g1, 0.0), mask=live)
        tl.store(gx_ptr + rows * 3 + 2, tl.where((r2 >= 0.0) & (r2 <= 1.0), g2, 0.0), mask=live)


class _Encode(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, x, table, level_table):
        x = x.contiguous()
        n, levels, f = len(x), level_table.shape[1], table.shape[1]
        out = torch.empty(n, levels * f, device=x.device, dtype=torch.float32)
        if n:
            _encode_fwd[(triton.cdiv(n, _BLOCK),)](x, table, out, level_table, n, levels, F=f, BLOCK=_BLOCK, **_OPTIONS)
        ctx.save_for_backward(x, table, level_table)
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad):
        x, table, level_table = ctx.saved_tensors
        want_x = ctx.needs_input_grad[0]
        n, levels, f = len(x), level_table.shape[1], table.shape[1]
        gtable = torch.zeros_like(table)
        gx = torch.zeros_like(x) if want_x else x.new_empty(0)
        if n:
            _encode_bwd[(triton.cdiv(n, _BLOCK),)](
                x,
                table,
                grad.contiguous().float(),
                gtable,
                gx,
                level_table,
                n,
                levels,
                F=f,
                BLOCK=_BLOCK,
                WANT_X=want_x,
                **_OPTIONS,
            )
        return (gx if want_x else None), gtable, None


def supports(features: int) -> bool:
    """Whether the kernel handles this many features per level (a power of two: Triton's block shapes)."""
    return features >= 1 and features & (features - 1) == 0


def encode(x: torch.Tensor, table: torch.Tensor, level_table: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` points in [0, 1] -> ``(N, levels * features)``; ``level_table`` as ``HashGrid`` holds it."""
    return _Encode.apply(x.float(), table, level_table)
