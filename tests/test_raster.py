import math

import numpy as np
import pytest
import torch

from ntop.cameras import Camera, project
from ntop.raster import interpolate, rasterize, vertex_normals


def _quad(z, half, x0=0.0):
    v = torch.tensor([[x0 - half, -half, z], [x0 + half, -half, z], [x0 + half, half, z], [x0 - half, half, z]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return v, f


def _raster(verts, faces, cam, **kw):
    K = torch.tensor(cam.K)[None]
    d = torch.tensor(cam.dist)[None]
    return rasterize(verts[None], faces, cam.model, K, d, cam.width, cam.height, cam.fov_deg, **kw)


def test_square_coverage_depth_and_interpolation_are_exact_for_pinhole():
    cam = Camera("pinhole", [100, 100, 31.5, 31.5], 64, 64)
    v, f = _quad(2.0, 0.4)  # spans +-20 px around the centre
    frags = _raster(v, f, cam)
    mask = frags.mask[0].numpy()
    u = np.arange(64)
    inside = (np.abs(u - 31.5) <= 20)
    assert (mask == (inside[None, :] & inside[:, None])).all()
    # depth is the distance along each pixel's ray to the plane z = 2
    rays, _ = cam.unproject(np.stack(np.meshgrid(u, u), -1).astype(np.float64))
    expected = 2.0 / rays[..., 2]
    np.testing.assert_allclose(frags.depth[0].numpy()[mask], expected[mask], rtol=1e-9)
    # a linear attribute (the world x coordinate) interpolates perspective-correctly
    x = interpolate(v[:, :1], f, frags)[0, ..., 0].numpy()
    np.testing.assert_allclose(x[mask], (rays[..., 0] * expected)[mask], atol=1e-9)
    assert np.isinf(frags.depth[0].numpy()[~mask]).all() and (frags.face[0].numpy()[~mask] == -1).all()


def test_nearer_surface_wins_and_batches_and_passes_agree():
    cam = Camera("equidistant", [40, 40, 31.5, 31.5], 64, 64)
    near, f = _quad(1.0, 0.3, x0=0.1)
    far, _ = _quad(2.0, 0.8)
    verts = torch.cat([near, far])
    faces = torch.cat([f, f + 4])
    frags = _raster(verts, faces, cam)
    overlap = frags.mask[0] & (frags.depth[0] < 1.5)
    assert overlap.sum() > 50 and (frags.face[0][overlap] < 2).all()
    assert ((frags.face[0] >= 2) & frags.mask[0]).sum() > 100  # the far quad shows around the near one
    few = _raster(verts, faces, cam, max_candidates=64)  # many small passes
    assert torch.equal(few.face, frags.face) and torch.equal(few.depth, frags.depth)
    K = torch.tensor(cam.K)[None].expand(3, -1)
    d = torch.zeros(3, 0, dtype=torch.float64)
    batch = rasterize(torch.stack([verts, verts * 1.1, verts]), faces, cam.model, K, d, 64, 64)
    assert torch.equal(batch.face[0], frags.face[0]) and torch.equal(batch.face[2], frags.face[0])
    assert not torch.equal(batch.face[1], frags.face[0])


def _sphere(n=40):
    th, ph = torch.meshgrid(torch.linspace(0, math.pi, n, dtype=torch.float64), torch.linspace(0, 2 * math.pi, 2 * n, dtype=torch.float64), indexing="ij")
    v = torch.stack([th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()], -1).reshape(-1, 3)
    faces = []
    for i in range(n - 1):
        for j in range(2 * n - 1):
            a, b, c, d = i * 2 * n + j, i * 2 * n + j + 1, (i + 1) * 2 * n + j, (i + 1) * 2 * n + j + 1
            faces += [[a, c, b], [b, c, d]]
    return v, torch.tensor(faces)


@pytest.mark.parametrize("model", ["equidistant", "pinhole", "double_sphere"])
def test_sphere_silhouette_matches_its_tangent_cone_for_any_lens(model):
    dist = {"pinhole": [0.0] * 5, "double_sphere": [-0.2, 0.6]}.get(model, [])
    cam = Camera(model, [60, 60, 63.5, 63.5], 128, 128, dist)
    v, f = _sphere()
    centre = torch.tensor([0.6, -0.3, 4.0], dtype=torch.float64)
    frags = _raster(v * 0.5 + centre, f, cam)
    px = np.stack(np.meshgrid(np.arange(128), np.arange(128)), -1).astype(np.float64)
    rays, valid = cam.unproject(px)
    c = centre.numpy()
    angle = np.arccos(np.clip(rays @ c / np.linalg.norm(c), -1, 1))
    cone = np.arcsin(0.5 / np.linalg.norm(c))
    truth = valid & (angle < cone)
    mask = frags.mask[0].numpy()
    assert (mask != truth).sum() <= 0.06 * truth.sum()  # a polygonal sphere, edges only
    n = vertex_normals((v * 0.5 + centre)[None], f)[0]
    away_from_poles = v[:, 2].abs() < 0.99  # the test sphere's poles are degenerate fans
    np.testing.assert_allclose((n * v).sum(-1)[away_from_poles].numpy(), 1.0, atol=0.01)  # outward normals


def test_triangles_leaving_the_field_of_view_are_dropped():
    cam = Camera("equidistant", [30, 30, 31.5, 31.5], 64, 64, fov_deg=180)
    v = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 1.0], [0.0, 0.5, -1.0]], dtype=torch.float64)  # one vertex behind
    frags = _raster(v, torch.tensor([[0, 1, 2]]), cam)
    assert not frags.mask.any()
    uv, valid = project("equidistant", v, torch.tensor(cam.K), torch.zeros(0, dtype=torch.float64), 180)
    assert valid.tolist() == [True, True, False]
