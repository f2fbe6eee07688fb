"""First surface along rays against one triangle mesh per frame: a uniform-grid ray caster (numba).

Label visibility asks, for ~100 joints in each of ~20 views of every frame, how far the body's first
surface lies on the ray from the camera to the joint. Rasterizing every view for that touches every
triangle ~20 times a frame; Embree would answer it, but its Python binding copies a mesh at about a
microsecond a triangle, which is the whole budget. Here each frame's mesh goes into a uniform grid
built in one pass over its triangles (shared by all of the frame's rays), and each ray walks the grid
cell by cell (Amanatides & Woo's 3D DDA), testing the cell's triangles exactly (Moller-Trumbore, both
sides, double precision), and stops at the first cell that holds a hit, or at ``tmax``. Frames run in
parallel on the CPU cores.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

__all__ = ["first_hits"]

_CELLS_PER_TRIANGLE = 4.0
_EPS = 1e-9  # barycentric slack, so that a ray through a shared edge hits one of its two triangles


@numba.njit(cache=True)
def _triangles(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Corners of every triangle ``(T, 9)`` float32, contiguous for the ray tests (the bodies are float32 already)."""
    tri = np.empty((len(faces), 9), np.float32)
    for t in range(len(faces)):
        for j in range(3):
            for k in range(3):
                tri[t, 3 * j + k] = verts[faces[t, j], k]
    return tri


@numba.njit(cache=True)
def _grid(verts: np.ndarray, tri: np.ndarray) -> tuple:
    """Bounds, cell size, cells per axis and the triangles of each cell (CSR: ``start``, ``items``)."""
    n_tri = len(tri)
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for v in range(len(verts)):
        for k in range(3):
            lo[k] = min(lo[k], verts[v, k])
            hi[k] = max(hi[k], verts[v, k])
    ext = np.maximum(hi - lo, 1e-6)
    lo -= 1e-6 * ext
    ext *= 1 + 2e-6
    cell = (ext[0] * ext[1] * ext[2] / (_CELLS_PER_TRIANGLE * n_tri)) ** (1 / 3)
    dims = np.empty(3, np.int64)
    for k in range(3):
        dims[k] = max(1, min(256, int(np.ceil(ext[k] / cell))))
    size = ext / dims
    span = np.empty((n_tri, 6), np.int32)  # per triangle: first and last cell on each axis
    for t in range(n_tri):
        for k in range(3):
            a, b, c = tri[t, k], tri[t, 3 + k], tri[t, 6 + k]
            span[t, k] = min(max(int((min(a, b, c) - lo[k]) / size[k]), 0), dims[k] - 1)
            span[t, 3 + k] = min(max(int((max(a, b, c) - lo[k]) / size[k]), 0), dims[k] - 1)
    start = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int32)
    for t in range(n_tri):
        for i in range(span[t, 0], span[t, 3] + 1):
            for j in range(span[t, 1], span[t, 4] + 1):
                for m in range(span[t, 2], span[t, 5] + 1):
                    start[(i * dims[1] + j) * dims[2] + m + 1] += 1
    for c in range(1, len(start)):
        start[c] += start[c - 1]
    fill = start[:-1].copy()
    items = np.empty(start[-1], np.int32)
    for t in range(n_tri):
        for i in range(span[t, 0], span[t, 3] + 1):
            for j in range(span[t, 1], span[t, 4] + 1):
                for m in range(span[t, 2], span[t, 5] + 1):
                    c = (i * dims[1] + j) * dims[2] + m
                    items[fill[c]] = t
                    fill[c] += 1
    return lo, size, dims, start, items


@numba.njit(cache=True, inline="always")
def _hit(tri: np.ndarray, t: int, ox: float, oy: float, oz: float, dx: float, dy: float, dz: float) -> float:
    """Ray parameter of the hit on triangle ``t`` (either side), ``inf`` for none (Moller-Trumbore, in float64)."""
    ax, ay, az = np.float64(tri[t, 0]), np.float64(tri[t, 1]), np.float64(tri[t, 2])
    e1x, e1y, e1z = tri[t, 3] - ax, tri[t, 4] - ay, tri[t, 5] - az
    e2x, e2y, e2z = tri[t, 6] - ax, tri[t, 7] - ay, tri[t, 8] - az
    px, py, pz = dy * e2z - dz * e2y, dz * e2x - dx * e2z, dx * e2y - dy * e2x
    det = e1x * px + e1y * py + e1z * pz
    if abs(det) < 1e-18:
        return np.inf
    inv = 1.0 / det
    sx, sy, sz = ox - ax, oy - ay, oz - az
    u = (sx * px + sy * py + sz * pz) * inv
    if u < -_EPS or u > 1 + _EPS:
        return np.inf
    qx, qy, qz = sy * e1z - sz * e1y, sz * e1x - sx * e1z, sx * e1y - sy * e1x
    v = (dx * qx + dy * qy + dz * qz) * inv
    if v < -_EPS or u + v > 1 + _EPS:
        return np.inf
    h = (e2x * qx + e2y * qy + e2z * qz) * inv
    return h if h > 0 else np.inf


@numba.njit(cache=True, inline="always")
def _axis(o: float, d: float, lo: float, size: float, n: int, t0: float) -> tuple:
    """One axis of the grid walk: the cell at ``t0``, the step, the next boundary's ``t`` and ``t`` per cell."""
    c = min(max(int((o + t0 * d - lo) / size), 0), n - 1)
    if d > 0:
        return c, 1, (lo + (c + 1) * size - o) / d, size / d
    if d < 0:
        return c, -1, (lo + c * size - o) / d, -size / d
    return c, 0, np.inf, np.inf


@numba.njit(cache=True)
def _cast(tri, lo, size, dims, start, items, o, d, tmax) -> float:  # noqa: ANN001
    """First hit of one ray with ``0 < t <= tmax`` (``inf`` for none), walking the grid cell by cell."""
    t0, t1 = 0.0, tmax
    for k in range(3):  # clip the ray to the grid's box
        end = lo[k] + size[k] * dims[k]
        if d[k] == 0.0:
            if o[k] < lo[k] or o[k] > end:
                return np.inf
            continue
        ta, tb = (lo[k] - o[k]) / d[k], (end - o[k]) / d[k]
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    if t0 > t1:
        return np.inf
    ox, oy, oz, dx, dy, dz = o[0], o[1], o[2], d[0], d[1], d[2]
    nx, ny, nz = dims[0], dims[1], dims[2]
    cx, sx, tx, ux = _axis(ox, dx, lo[0], size[0], nx, t0)
    cy, sy, ty, uy = _axis(oy, dy, lo[1], size[1], ny, t0)
    cz, sz, tz, uz = _axis(oz, dz, lo[2], size[2], nz, t0)
    best = np.inf
    while True:
        c = (cx * ny + cy) * nz + cz
        for n in range(start[c], start[c + 1]):
            h = _hit(tri, items[n], ox, oy, oz, dx, dy, dz)
            if h < best and h <= tmax:
                best = h
        t_exit = min(tx, ty, tz)
        if best <= t_exit or t_exit > t1:  # a hit inside this cell, or the ray ends in it
            return best
        if tx == t_exit:
            cx += sx
            tx += ux
            if cx < 0 or cx >= nx:
                return best
        elif ty == t_exit:
            cy += sy
            ty += uy
            if cy < 0 or cy >= ny:
                return best
        else:
            cz += sz
            tz += uz
            if cz < 0 or cz >= nz:
                return best


@numba.njit(cache=True, parallel=True)
def _first_hits(verts, faces, origins, dirs, tmax) -> np.ndarray:  # noqa: ANN001
    F, R = origins.shape[:2]
    out = np.empty((F, R))
    for f in numba.prange(F):
        tri = _triangles(verts[f], faces)
        lo, size, dims, start, items = _grid(verts[f], tri)
        for r in range(R):
            out[f, r] = _cast(tri, lo, size, dims, start, items, origins[f, r], dirs[f, r], tmax[f, r])
    return out


def first_hits(vertices: np.ndarray, faces: np.ndarray, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each origin to the first surface of its frame's mesh on the way to its target.

    ``vertices (F, N, 3)``, ``faces (T, 3)``, ``origins`` and ``targets (F, R, 3)`` (or origins
    ``(F, 1, 3)``, shared by a frame's rays). Returns ``(F, R)``: the distance to the first triangle
    (either side) met no farther than the target, ``inf`` where there is none. Vertices are taken in
    float32 (SMPL's own precision, so exact for its meshes), rays and intersections in float64.
    """
    numba.set_num_threads(
        max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    )  # a job's share: OMP_NUM_THREADS, --threads
    verts = np.ascontiguousarray(vertices, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float64)
    origins = np.ascontiguousarray(np.broadcast_to(np.asarray(origins, dtype=np.float64), targets.shape))
    delta = targets - origins
    length = np.linalg.norm(delta, axis=-1)
    dirs = np.ascontiguousarray(delta / np.maximum(length, 1e-300)[..., None])
    return _first_hits(verts, np.ascontiguousarray(faces, dtype=np.int64), origins, dirs, np.ascontiguousarray(length))
