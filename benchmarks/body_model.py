"""Anny converted into SMPL's format (``ntop.body.anny``) against Anny's own forward, in one run.

    python benchmarks/body_model.py [--samples 1000] [--test 200] [--poses 200] [--threads 2]

Prints: the shape space (rest meshes of held-out adults, children and infants against Anny's, per
component count, and the variance held), posing (the converted model against Anny's forward with the
same rotations on the mapped bones, 200 random poses inside joint limits), COCO-17 (the converted
joints against Anny's own COCO regressor on the same posed bodies) and the forward speed of 1,000
poses beside smplx at SMPL's size (6,890 vertices) and Anny's own forward.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from foundation import best_of, smpl_sized_peer  # the forward-speed peer of benchmarks/foundation.py
from scipy.spatial.transform import Rotation

from ntop.body import BodyModel, procedural
from ntop.body import anny as conv
from ntop.body.joints import COCO17
from ntop.body.loaders import load_model_file

# Euler XYZ ranges in degrees per SMPL joint (SMPL frame: x left, y up, z front; the left arm along +x)
_LIMITS = {
    1: [(-90, 20), (-20, 20), (-10, 40)], 2: [(-90, 20), (-20, 20), (-40, 10)], 3: [(-20, 20)] * 3,
    4: [(0, 120), (0, 0), (0, 0)], 5: [(0, 120), (0, 0), (0, 0)], 6: [(-15, 15)] * 3,
    7: [(-20, 30), (-15, 15), (-15, 15)], 8: [(-20, 30), (-15, 15), (-15, 15)], 9: [(-15, 15)] * 3,
    10: [(-20, 20), (0, 0), (0, 0)], 11: [(-20, 20), (0, 0), (0, 0)], 12: [(-20, 20)] * 3,
    13: [(0, 0), (-15, 15), (-15, 15)], 14: [(0, 0), (-15, 15), (-15, 15)], 15: [(-30, 30)] * 3,
    16: [(-40, 40), (-60, 60), (-70, 30)], 17: [(-40, 40), (-60, 60), (-30, 70)],
    18: [(0, 0), (-130, 0), (0, 0)], 19: [(0, 0), (0, 130), (0, 0)],
    20: [(-30, 30)] * 3, 21: [(-30, 30)] * 3, 22: [(-20, 20)] * 3, 23: [(-20, 20)] * 3,
}  # fmt: skip


def random_poses(n: int, seed: int) -> np.ndarray:
    """``(n, 24, 3)`` axis-angle poses: a random global orientation, every joint inside the limits above."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, 24, 3))
    pose[:, 0] = Rotation.random(n, random_state=seed).as_rotvec()
    for j, ranges in _LIMITS.items():
        angles = np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges], 1)
        pose[:, j] = Rotation.from_euler("XYZ", angles, degrees=True).as_rotvec()
    return pose


def shape_errors(model, data: dict, groups: dict[str, np.ndarray], counts: list[int]) -> dict[str, list[float]]:
    """Mean vertex error (mm) of each group's T-posed Anny meshes projected on the first k components."""
    out = {}
    dirs_all = data["shapedirs"].reshape(-1, data["shapedirs"].shape[-1])
    for name, phenotypes in groups.items():
        meshes, _ = conv.posed(model, phenotypes, data["anny_tpose"][None])
        X = (meshes - data["v_template"]).reshape(len(meshes), -1)
        errs = []
        for k in counts:
            betas = np.linalg.lstsq(dirs_all[:, :k], X.T, rcond=None)[0]
            recon = (dirs_all[:, :k] @ betas).T
            errs.append(1000 * np.linalg.norm((X - recon).reshape(len(meshes), -1, 3), axis=-1).mean())
        out[name] = errs
    return out


def exact_shape_model(data: dict, mesh: np.ndarray, joints: np.ndarray) -> BodyModel:
    """The converted model with one Anny build's exact T-posed mesh and joints: posing error alone."""
    exact = dict(data)
    exact["v_template"] = mesh
    exact["shapedirs"] = np.zeros((len(mesh), 3, 1))
    exact["J_regressor"] = conv._joint_regressor(mesh, exact["shapedirs"], np.stack([joints, np.zeros_like(joints)]))
    return BodyModel(exact, dtype=torch.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1000, help="phenotypes the components are built from")
    ap.add_argument("--test", type=int, default=200, help="held-out phenotypes per age group")
    ap.add_argument("--poses", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = conv.load_anny()
    t = time.perf_counter()
    data = conv.build(components=20, samples=a.samples, model=model)
    print(f"conversion ({a.samples} phenotypes, 20 components): {time.perf_counter() - t:.1f} s")
    ev = data["anny_explained_variance"]
    print("variance held by 5/10/15/20 components: " + " / ".join(f"{100 * ev[k - 1]:.3f} %" for k in (5, 10, 15, 20)))

    groups = {
        "adults": conv.sample_phenotypes(a.test, conv.ADULT_AGES, seed=1),
        "children": conv.sample_phenotypes(a.test, conv.CHILD_AGES, seed=2),
        "infants": conv.sample_phenotypes(a.test, conv.INFANT_AGES, seed=3),
    }
    counts = [5, 10, 15, 20]
    print("\nShape: mean vertex error of held-out T-posed rest meshes (mm), by component count " + "/".join(map(str, counts)))
    for name, errs in shape_errors(model, data, groups, counts).items():
        print(f"  {name:9s} " + " / ".join(f"{e:.2f}" for e in errs) + ("   (bar <= 5 mm at 10)" if name == "adults" else ""))

    data10 = dict(data, shapedirs=data["shapedirs"][..., :10])
    data10["J_regressor"] = data["J_regressor"]  # reproduces joints for every coefficient, the first 10 included
    body = BodyModel(data10, dtype=torch.float64)
    poses = random_poses(a.poses, seed=4)
    builds = conv.sample_phenotypes(a.poses, conv.ADULT_AGES, seed=5)
    deltas = conv.anny_deltas(model, poses, data["anny_tpose"])
    anny_verts, _ = conv.posed(model, builds, deltas)
    coco = torch.as_tensor(conv.keypoint_regressor(model, list(COCO17.names)))
    anny_coco = torch.einsum("kv,bvc->bkc", coco, torch.as_tensor(anny_verts)).numpy()
    pose_only, total, coco_err = [], [], []
    betas = conv.phenotype_betas([conv.Phenotype(*row) for row in builds], data10, model=model)
    rest_meshes, rest_heads = conv.posed(model, builds, data["anny_tpose"][None])
    anchors = conv.anchor_bones(list(model.bone_labels))
    for i in range(a.poses):
        go, bp = torch.as_tensor(poses[i : i + 1, 0]), torch.as_tensor(poses[i : i + 1, 1:])
        joints = np.stack([rest_heads[i, idx].mean(0) for idx in anchors])
        exact = exact_shape_model(data10, rest_meshes[i], joints)
        with torch.no_grad():
            v_exact = exact(go, bp).vertices[0].numpy()
            out = body(go, bp, torch.as_tensor(betas[i : i + 1]))
            ours_coco = body.joint_set(out, "coco17")[0].numpy()
        pose_only.append(1000 * np.linalg.norm(v_exact - anny_verts[i], axis=1).mean())
        total.append(1000 * np.linalg.norm(out.vertices[0].numpy() - anny_verts[i], axis=1).mean())
        coco_err.append(1000 * np.linalg.norm(ours_coco - anny_coco[i], axis=1))
    print(f"\nPose: {a.poses} random poses inside joint limits, random adult builds, mean vertex error vs Anny's forward")
    print(
        f"  posing alone (the build's exact mesh): mean {np.mean(pose_only):.3f} mm, max {np.max(pose_only):.3f} mm   (bar <= 2 mm)"
    )
    print(f"  with the 10-component shape:          mean {np.mean(total):.3f} mm, max {np.max(total):.3f} mm")
    names = COCO17.names
    per_joint = np.mean(coco_err, 0)
    print("\nCOCO-17: converted joints vs Anny's own COCO regressor on the same posed bodies, mean per joint (mm; bar <= 15)")
    print("  " + "  ".join(f"{n} {e:.1f}" for n, e in zip(names, per_joint)))
    print(
        f"  worst joint {names[int(np.argmax(per_joint))]} {per_joint.max():.1f} mm, mean over joints {per_joint.mean():.1f} mm"
    )

    n = 1000
    big = torch.as_tensor(random_poses(n, seed=6), dtype=torch.float32)
    body32 = BodyModel(data10, dtype=torch.float32)
    smpl = smpl_sized_peer(load_model_file(procedural.cached_path()))
    betas32 = torch.zeros(n, 10)
    with torch.no_grad():
        t_ours = best_of(lambda: body32(big[:, 0], big[:, 1:], betas32))
        t_smpl = best_of(lambda: smpl(global_orient=big[:, 0], body_pose=big[:, 1:].reshape(n, -1), betas=betas32))
        anny_deltas = conv._homogeneous(conv.anny_deltas(model, big.double().numpy(), data["anny_tpose"]))
        ph = torch.full((1, 6), 0.5, dtype=torch.float64)
        t_anny = best_of(lambda: model(pose_parameters=anny_deltas, phenotype_kwargs=ph))
    print(f"\nForward of {n} poses, {a.threads} CPU threads (best of 5):")
    print(f"  converted Anny ({body32.num_vertices} vertices, float32): {t_ours:.3f} s")
    print(f"  smplx at SMPL's size (6890 vertices, float32): {t_smpl:.3f} s   ratio {t_ours / t_smpl:.2f}x (goal <= 2.5x)")
    print(f"  Anny's own forward (104 bones, float64):       {t_anny:.3f} s")


if __name__ == "__main__":
    main()
