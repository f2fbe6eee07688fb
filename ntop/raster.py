"""A batched z-buffer mesh rasterizer in torch, for every camera model of ``ntop.cameras``.

Used for the synthetic capture's images, the ground-truth masks and depth, and silhouettes of
fitted and label bodies. Vertices are projected through the camera model one by one and the
triangles between them are drawn straight in the image, which is accurate for triangles a few pixels
wide (the bodies here), whatever the lens. The kernel is vectorised over (triangle, pixel)
candidates: every triangle's pixel box is expanded, barycentrics are computed for all candidates at
once, and a scatter-min over pixels resolves visibility. Runs on CPU and CUDA alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ntop.cameras import project

__all__ = ["Fragments", "rasterize", "interpolate", "vertex_normals"]


@dataclass
class Fragments:
    """Per pixel: the visible triangle (``-1`` for none), its barycentrics and the depth.

    ``face (B, H, W)`` long, ``bary (B, H, W, 3)`` perspective-correct, ``depth (B, H, W)`` distance
    from the camera centre along the ray in the units of the vertices (``inf`` for background).
    """

    face: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        return self.face >= 0


def rasterize(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    model: str,
    K: torch.Tensor,
    dist: torch.Tensor,
    width: int,
    height: int,
    fov_deg: float | None = None,
    max_candidates: int = 1 << 22,
) -> Fragments:
    """Rasterize ``B`` posed meshes, each seen by its own camera of one model.

    ``verts_cam (B, V, 3)`` camera-frame vertices, ``faces (F, 3)``, ``K (B, 4)``, ``dist (B, D)``.
    Triangles with a vertex outside the field of view are dropped. ``max_candidates`` bounds the
    memory of one pass; larger jobs are processed in several passes over the triangles.
    """
    B, device = verts_cam.shape[0], verts_cam.device
    uv, valid = project(model, verts_cam, K[:, None], dist[:, None], fov_deg)
    inv_depth = _inverse_depth(model, verts_cam)
    tri_uv = uv[:, faces]  # (B, F, 3, 2)
    tri_inv = inv_depth[:, faces]  # (B, F, 3)
    tri_xyz = verts_cam[:, faces]  # (B, F, 3, 3)
    ok = valid[:, faces].all(-1)
    lo = torch.ceil(tri_uv.amin(2) - 1e-9).long()
    hi = torch.floor(tri_uv.amax(2) + 1e-9).long()
    lo[..., 0].clamp_(min=0)
    lo[..., 1].clamp_(min=0)
    hi[..., 0].clamp_(max=width - 1)
    hi[..., 1].clamp_(max=height - 1)
    size = (hi - lo + 1).clamp(min=0)
    count = size[..., 0] * size[..., 1] * ok
    b_idx, f_idx = torch.nonzero(count, as_tuple=True)
    counts = count[b_idx, f_idx]

    n_pix = B * height * width
    zbuf = torch.full((n_pix,), float("inf"), dtype=verts_cam.dtype, device=device)
    fbuf = torch.full((n_pix,), -1, dtype=torch.long, device=device)
    bbuf = torch.zeros((n_pix, 3), dtype=verts_cam.dtype, device=device)
    # passes over the triangles so that no pass holds more than max_candidates (triangle, pixel) pairs
    ends = torch.cumsum(counts, 0)
    start = 0
    while start < len(counts):
        base = int(ends[start - 1]) if start else 0
        stop = max(int(torch.searchsorted(ends, base + max_candidates, right=True)), start + 1)
        _raster_pass(
            b_idx[start:stop],
            f_idx[start:stop],
            counts[start:stop],
            lo,
            size,
            tri_uv,
            tri_inv,
            tri_xyz,
            width,
            height,
            zbuf,
            fbuf,
            bbuf,
        )
        start = stop
    return Fragments(
        face=fbuf.view(B, height, width),
        bary=bbuf.view(B, height, width, 3),
        depth=zbuf.view(B, height, width),
    )


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inverse_depth(model: str, verts_cam: torch.Tensor) -> torch.Tensor:
    """Per-vertex weights for perspective-correct interpolation: 1/z is affine in a pinhole image;
    for wide lenses 1/range is the analogue."""
    return 1 / (verts_cam[..., 2] if model == "pinhole" else (verts_cam * verts_cam).sum(-1).sqrt())


def _expand(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For items with ``counts`` children each: every child's item index and its rank within the item."""
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    rank = torch.arange(int(counts.sum()), device=counts.device) - (torch.cumsum(counts, 0) - counts)[owner]
    return owner, rank


def _surface_hits(tri_uv: torch.Tensor, p: torch.Tensor, tri_inv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image points ``p (N, 2)`` against one projected triangle each ``(N, 3, 2)`` with vertex weights
    ``tri_inv (N, 3)``: which fall inside, and for those the perspective-correct barycentrics ``(M, 3)``."""
    a, b, c = tri_uv.unbind(1)
    area = _cross(b - a, c - a)
    area_safe = torch.where(area.abs() > 1e-12, area, torch.ones_like(area))
    w0, w1 = _cross(b - p, c - p) / area_safe, _cross(c - p, a - p) / area_safe
    w = torch.stack([w0, w1, 1 - w0 - w1], -1)
    inv = w * tri_inv
    hit = (w >= -1e-7).all(-1) & (area.abs() > 1e-12) & (inv.sum(-1) > 0)
    return hit, inv[hit] / inv[hit].sum(-1, keepdim=True)


def _distance(bary: torch.Tensor, tri_xyz: torch.Tensor) -> torch.Tensor:
    """Distance from the camera centre to the surface points ``(M,)`` given by barycentrics on triangles ``(M, 3, 3)``."""
    xyz = (bary[..., None] * tri_xyz).sum(1)
    return (xyz * xyz).sum(-1).sqrt()


def _raster_pass(
    b_idx: torch.Tensor,
    f_idx: torch.Tensor,
    counts: torch.Tensor,
    lo: torch.Tensor,
    size: torch.Tensor,
    tri_uv: torch.Tensor,
    tri_inv: torch.Tensor,
    tri_xyz: torch.Tensor,
    width: int,
    height: int,
    zbuf: torch.Tensor,
    fbuf: torch.Tensor,
    bbuf: torch.Tensor,
) -> None:
    owner, offset = _expand(counts)
    b, f = b_idx[owner], f_idx[owner]
    nx = size[b, f, 0]
    px = lo[b, f, 0] + offset % nx
    py = lo[b, f, 1] + offset // nx
    p = torch.stack([px, py], -1).to(tri_uv.dtype)
    inside, bary = _surface_hits(tri_uv[b, f], p, tri_inv[b, f])
    b, f, px, py = b[inside], f[inside], px[inside], py[inside]
    depth = _distance(bary, tri_xyz[b, f])
    key = (b * height + py) * width + px
    zbuf.scatter_reduce_(0, key, depth, reduce="amin")
    win = depth <= zbuf[key]
    key, f, bary = key[win], f[win], bary[win]
    # deterministic ties: the highest triangle index wins
    best = torch.full_like(fbuf, -1).scatter_reduce_(0, key, f, reduce="amax")
    keep = f == best[key]
    fbuf[key[keep]] = f[keep]
    bbuf[key[keep]] = bary[keep]


def interpolate(attrs: torch.Tensor, faces: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Per-vertex attributes ``(B, V, C)``, ``(1, V, C)`` or ``(V, C)`` to per-pixel ``(B, H, W, C)``.

    Only covered pixels are computed; background pixels are zero.
    """
    if attrs.dim() == 2:
        attrs = attrs[None]
    b, y, x = torch.nonzero(frags.mask, as_tuple=True)
    corners = faces[frags.face[b, y, x]]  # (N, 3)
    bi = b if attrs.shape[0] > 1 else torch.zeros_like(b)
    vals = attrs[bi[:, None], corners]  # (N, 3, C)
    out = attrs.new_zeros(frags.face.shape + (attrs.shape[-1],))
    out[b, y, x] = (vals * frags.bary[b, y, x][..., None]).sum(1)
    return out


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``(B, V, 3)`` of outward-oriented meshes."""
    v0, v1, v2 = (verts[:, faces[:, i]] for i in range(3))
    fn = torch.cross(v1 - v0, v2 - v0, dim=-1)
    n = torch.zeros_like(verts)
    for i in range(3):
        n.index_add_(1, faces[:, i], fn)
    return torch.nn.functional.normalize(n, dim=-1)
