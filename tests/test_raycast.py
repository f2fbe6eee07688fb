"""The grid ray caster against brute-force Moller-Trumbore and against geometry known by hand."""

import numpy as np
import torch

from ntop.qa.labels import ray_mesh_first_hit
from ntop.raycast import first_hits

# a unit cube [0, 1]^3, two triangles a face
CUBE_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float32)
CUBE_F = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                   [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip


def test_cube_distances_edges_and_reach():
    o = np.array([[[0.3, 0.4, -2.0], [0.5, 0.5, -2.0], [0.3, 0.4, -2.0], [-1.0, 0.25, 0.25], [5.0, 5.0, 5.0]]])
    targets = np.array([[[0.3, 0.4, 3.0],  # through the bottom face at z = 0: 2.0 away
                         [0.5, 0.5, 3.0],  # through the bottom face's diagonal, the edge its two triangles share
                         [0.3, 0.4, -0.5],  # stops short of the cube
                         [2.0, 0.25, 0.25],  # through the x = 0 face: 1.0 away
                         [6.0, 6.0, 6.0]]])  # fmt: skip  # away from it
    d = first_hits(CUBE_V[None], CUBE_F, o, targets)[0]
    np.testing.assert_allclose(d[[0, 1, 3]], [2.0, 2.0, 1.0], atol=1e-12)
    assert np.isinf(d[2]) and np.isinf(d[4])


def test_shared_origin_and_zero_length_rays():
    centre = np.array([[[0.5, 0.5, 4.0]]])
    targets = np.array([[[0.5, 0.5, 0.5], [0.5, 0.5, 4.0], [0.2, 0.7, -1.0]]])
    d = first_hits(CUBE_V[None], CUBE_F, centre, targets)[0]
    np.testing.assert_allclose(d[[0, 2]], [3.0, 0.6 * np.linalg.norm([-0.3, 0.2, -5.0])], atol=1e-12)  # the top face, z = 1
    assert np.isinf(d[1])  # no length, no hit


def test_matches_brute_force_on_posed_bodies(body):
    torch.manual_seed(0)
    with torch.no_grad():
        out = body(torch.randn(3, 3) * 0.5, torch.randn(3, 69) * 0.3, None, torch.zeros(3, 3))
        joints = body.joint_set(out, "smpl24").double().numpy()
    verts, faces = out.vertices.numpy(), body.faces.numpy()
    rng = np.random.default_rng(1)
    for f in range(3):
        origin = rng.normal(size=3) * 2.0 + [0, 0, 2.5]
        # rays ending at the joints (inside the body) and rays reaching past it
        targets = np.concatenate([joints[f], origin + (joints[f] - origin) * 3.0])
        d = first_hits(verts[f][None], faces, origin[None, None], targets[None])[0]
        length = np.linalg.norm(targets - origin, axis=1)
        ref = ray_mesh_first_hit(origin, (targets - origin) / length[:, None], verts[f].astype(np.float64)[faces])
        ref = np.where(ref <= length, ref, np.inf)
        assert np.isfinite(d).sum() >= len(joints[f]) and (np.isfinite(d) == np.isfinite(ref)).all()
        np.testing.assert_allclose(d[np.isfinite(d)], ref[np.isfinite(ref)], rtol=0, atol=1e-9)
