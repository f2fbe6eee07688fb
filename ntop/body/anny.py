"""Anny (NAVER LABS; code Apache-2.0, MakeHuman assets CC0) converted once into SMPL's format.

Everything downstream speaks SMPL's 24 joints, so Anny's 104-bone rig is folded into them: each
Anny bone belongs to one SMPL joint (its *group*), whose skinning weights are the sum of its bones'
and which sits on the head of the group's first bone. The template is Anny in a T-pose (the arms
raised, the elbows and wrists straightened), as SMPL's is, so SMPL-style poses mean the same here.
Shape blend shapes are principal components of T-posed adult Anny meshes sampled over its
phenotypes; the joint regressor reproduces Anny's joints (linearly regressed on those components)
exactly for every shape coefficient. Landmarks (face, finger tips, toes) are mesh vertices, found
with Anny's own COCO regressor and its bones. Pose-corrective blend shapes are zero: Anny has none.

Frames: Anny is z up, facing -y, the subject's left at +x; SMPL is y up, facing +z, left at +x.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.body.cache import cached_model
from ntop.body.joints import COCO17, LANDMARKS, SMPL_PARENTS
from ntop.errors import NtopError

__all__ = ["VERSION", "Phenotype", "anny_deltas", "build", "cached_path", "load_anny", "phenotype_betas", "tpose_deltas"]

#: bump when the conversion changes, so caches are rebuilt
VERSION = 1
ANNY_VERSION = "0.6.2"

#: rotation from Anny's frame to SMPL's: x stays, Anny's z (up) becomes y, Anny's -y (front) becomes z
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Each SMPL joint's Anny bones (a regular expression over bone labels; {s} is the side, L or R), and the
# bones whose mean head is the joint: one bone's head, or for the toes and fingers, the knuckles'.
_CENTRAL = {
    0: (r"root|pelvis\.[LR]|spine05", "root"),
    3: ("spine0[34]", "spine04"),
    6: ("spine02", "spine02"),
    9: ("spine01", "spine01"),
    12: ("neck0[1-3]", "neck01"),
    15: (r"head|eye\.[LR]", "head"),
}
_SIDED = {  # left joint: (bones, anchors)
    1: (r"upperleg0[12]\.{s}", r"upperleg01\.{s}"),
    4: (r"lowerleg0[12]\.{s}", r"lowerleg01\.{s}"),
    7: (r"foot\.{s}", r"foot\.{s}"),
    10: (r"toe.*\.{s}", r"toe[1-5]-1\.{s}"),
    13: (r"(clavicle|shoulder01)\.{s}", r"clavicle\.{s}"),
    16: (r"upperarm0[12]\.{s}", r"upperarm01\.{s}"),
    18: (r"lowerarm0[12]\.{s}", r"lowerarm01\.{s}"),
    20: (r"(wrist|metacarpal\d|finger1-\d)\.{s}", r"wrist\.{s}"),
    22: (r"finger[2-5]-\d\.{s}", r"finger[2-5]-1\.{s}"),
}
_PATTERNS = {
    **_CENTRAL,
    **{j + side: (b.format(s=s), a.format(s=s)) for j, (b, a) in _SIDED.items() for side, s in ((0, "L"), (1, "R"))},
}

#: Anny's age axis: 0 baby, 1/3 child, 2/3 young adult, 1 old
ADULT_AGES, CHILD_AGES, INFANT_AGES = (0.6, 1.0), (0.25, 0.45), (0.0, 0.12)


@dataclass(frozen=True)
class Phenotype:
    """An Anny build: each value in [0, 1] (gender 0 male .. 1 female; age 0 baby .. 2/3 young adult .. 1 old)."""

    gender: float = 0.5
    age: float = 2 / 3
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "phenotype") -> Phenotype:
        unknown = sorted(set(d) - set(PHENOTYPE_FIELDS))
        if unknown:
            raise NtopError(f"unknown phenotype {', '.join(unknown)}; known: {', '.join(PHENOTYPE_FIELDS)}", where, unknown[0])
        for key, value in d.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise NtopError(f"must be a number in [0, 1], got {value!r}", where, key)
        return cls(**{k: float(v) for k, v in d.items()})

    def as_row(self) -> list[float]:
        return [float(v) for v in asdict(self).values()]


#: Anny's phenotype axes, in the order Anny's model takes them
PHENOTYPE_FIELDS = tuple(f.name for f in fields(Phenotype))


def load_anny() -> Any:
    """Anny's default model (13,718 vertices, 104 bones, local-ref poses), built once into its cache.

    The first build takes about a minute and fills ``$ANNY_CACHE_DIR`` (default ``~/.cache/anny``);
    Warp's start-up banner goes to the log nobody reads.
    """
    try:
        import anny
    except ImportError as e:
        raise NtopError("the Anny body model needs the 'anny' package: run .ci/install (pip install anny)") from e
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import warp

        warp.config.quiet = True
        model = anny.Anny()
        model(phenotype_kwargs=torch.full((1, len(model.phenotype_labels)), 0.5, dtype=model.dtype))  # compile Warp's kernel
    if list(model.phenotype_labels) != list(PHENOTYPE_FIELDS):
        raise NtopError(f"unexpected Anny phenotypes {model.phenotype_labels}; ntop converts anny=={ANNY_VERSION}")
    return model


def bone_groups(labels: list[str]) -> np.ndarray:
    """The SMPL joint each Anny bone belongs to, ``(104,)``."""
    out = np.array([next((j for j, (bones, _) in _PATTERNS.items() if re.fullmatch(bones, label)), -1) for label in labels])
    if (out < 0).any():
        raise NtopError(f"Anny bones without an SMPL joint: {[labels[i] for i in np.flatnonzero(out < 0)]}")
    return out


def anchor_bones(labels: list[str]) -> list[list[int]]:
    """Per SMPL joint, the Anny bones whose mean head is the joint."""
    return [[i for i, label in enumerate(labels) if re.fullmatch(_PATTERNS[j][1], label)] for j in range(24)]


def _phenotype_tensor(model: Any, phenotypes: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.atleast_2d(phenotypes), dtype=model.dtype)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b``."""
    return Rotation.align_vectors(b[None], a[None])[0].as_matrix()


def _world_rotations(parents: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """World-aligned rotations ``G_b = G_parent D_b`` of local-ref deltas ``(..., N, 3, 3)`` (parents precede children)."""
    G = np.empty_like(deltas)
    G[..., 0, :, :] = deltas[..., 0, :, :]
    for b in range(1, deltas.shape[-3]):
        G[..., b, :, :] = G[..., parents[b], :, :] @ deltas[..., b, :, :]
    return G


def tpose_deltas(model: Any, phenotype: Phenotype = Phenotype()) -> np.ndarray:
    """Local-ref deltas ``(104, 3, 3)`` raising Anny's arms from its rest (an A-pose, elbows and wrists
    bent) into SMPL's T-pose: upper arm, forearm and hand each along the body's side axis."""
    labels = list(model.bone_labels)
    with torch.no_grad():
        heads = model(phenotype_kwargs=_phenotype_tensor(model, np.array(phenotype.as_row())))["bone_poses"][0, :, :3, 3].numpy()
    deltas = np.tile(np.eye(3), (len(labels), 1, 1))
    for side, x in (("L", 1.0), ("R", -1.0)):
        fingers = [labels.index(f"finger{k}-1.{side}") for k in range(2, 6)]
        chain = [  # (bone that turns, the point its segment ends at); each bone's parent turns with the one before
            (labels.index(f"upperarm01.{side}"), heads[labels.index(f"lowerarm01.{side}")]),
            (labels.index(f"lowerarm01.{side}"), heads[labels.index(f"wrist.{side}")]),
            (labels.index(f"wrist.{side}"), heads[fingers].mean(0)),
        ]
        parent_world = np.eye(3)
        for bone, end in chain:
            world = _rotation_between(parent_world @ (end - heads[bone]), np.array([x, 0.0, 0.0])) @ parent_world
            deltas[bone] = parent_world.T @ world
            parent_world = world
    return deltas


def anny_deltas(model: Any, pose: np.ndarray, tpose: np.ndarray) -> np.ndarray:
    """Anny's local-ref deltas ``(B, 104, 3, 3)`` for SMPL poses ``(B, 24, 3)`` (axis-angle, global
    orientation first, relative to the T-posed template): every bone of a group turns with its joint."""
    B = len(pose)
    local = Rotation.from_rotvec(np.asarray(pose, dtype=np.float64).reshape(-1, 3)).as_matrix().reshape(B, 24, 3, 3)
    G_smpl = _world_rotations(np.asarray(SMPL_PARENTS), local)
    C = ANNY_TO_SMPL
    G_joint = C.T @ G_smpl @ C  # the same rotations in Anny's frame
    parents = np.asarray(model.bone_parents)
    G = G_joint[:, bone_groups(list(model.bone_labels))] @ _world_rotations(parents, tpose)[None]
    D = np.empty_like(G)
    D[:, 0] = G[:, 0]
    D[:, 1:] = np.swapaxes(G[:, parents[1:]], -1, -2) @ G[:, 1:]
    return D


def _homogeneous(rotations: np.ndarray, translation: np.ndarray | None = None) -> torch.Tensor:
    H = np.zeros(rotations.shape[:-2] + (4, 4))
    H[..., :3, :3] = rotations
    H[..., 3, 3] = 1.0
    if translation is not None:
        H[..., :3, 3] = translation
    return torch.as_tensor(H)


def posed(model: Any, phenotypes: np.ndarray, deltas: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Anny's vertices ``(B, V, 3)`` and bone heads ``(B, 104, 3)`` in SMPL's frame, for phenotypes
    ``(B or 1, 6)`` and local-ref deltas ``(B or 1, 104, 3, 3)`` (the root at the origin)."""
    phenotypes, deltas = np.atleast_2d(phenotypes), deltas.reshape(-1, *deltas.shape[-3:])
    B = max(len(phenotypes), len(deltas))
    verts, heads = [], []
    with torch.no_grad():
        for s in range(0, B, chunk):
            p = phenotypes[s : s + chunk] if len(phenotypes) > 1 else phenotypes
            d = deltas[s : s + chunk] if len(deltas) > 1 else deltas
            out = model(pose_parameters=_homogeneous(d), phenotype_kwargs=_phenotype_tensor(model, p))
            verts.append(out["vertices"].numpy() @ ANNY_TO_SMPL.T)
            heads.append(out["bone_poses"][..., :3, 3].numpy() @ ANNY_TO_SMPL.T)
    return np.concatenate(verts), np.concatenate(heads)


def sample_phenotypes(n: int, ages: tuple[float, float], seed: int) -> np.ndarray:
    """``(n, 6)`` phenotypes: every axis uniform in [0, 1] but age, uniform in ``ages``."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, (n, len(PHENOTYPE_FIELDS)))
    p[:, PHENOTYPE_FIELDS.index("age")] = rng.uniform(*ages, n)
    return p


def _shape_space(meshes: np.ndarray, heads: np.ndarray, components: int) -> dict[str, np.ndarray]:
    """Mean mesh, ``shapedirs (V, 3, K)`` scaled so one unit is one standard deviation, the bone
    heads' linear regression on the coefficients, and the variance each component holds."""
    N, V, _ = meshes.shape
    mean = meshes.mean(0)
    X = (meshes - mean).reshape(N, -1)
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    sigma = s / np.sqrt(N - 1)
    dirs = (Vt[:components] * sigma[:components, None]).T.reshape(V, 3, components)
    betas = X @ Vt[:components].T / sigma[:components]
    design = np.concatenate([np.ones((N, 1)), betas], 1)
    coef, *_ = np.linalg.lstsq(design, heads.reshape(N, -1), rcond=None)
    return {
        "v_template": mean,
        "shapedirs": dirs,
        "head_coefficients": coef.reshape(components + 1, -1, 3),  # (1 + K, 104, 3)
        "explained_variance": np.cumsum(sigma**2) / np.sum(sigma**2),
    }


def _joint_regressor(v_template: np.ndarray, shapedirs: np.ndarray, joints: np.ndarray, near: int = 96) -> np.ndarray:
    """``(J, V)`` regressor reproducing ``joints (1 + K, J, 3)`` (the mean joints, then each shape
    direction's) from the mesh exactly: the smallest correction of Gaussian weights on the ``near``
    vertices closest to each joint, so the joints follow every shape coefficient linearly."""
    J, V = joints.shape[1], len(v_template)
    basis = np.concatenate([v_template[None], np.moveaxis(shapedirs, -1, 0)])  # (1 + K, V, 3)
    out = np.zeros((J, V))
    for j in range(J):
        dist = np.linalg.norm(v_template - joints[0, j], axis=1)
        idx = np.argsort(dist)[:near]
        w0 = np.exp(-((dist[idx] / dist[idx].max()) ** 2) * 4)
        w0 /= w0.sum()
        A = np.concatenate([basis[:, idx].transpose(0, 2, 1).reshape(-1, near), np.ones((1, near))])  # (3(1+K) + 1, near)
        b = np.concatenate([joints[:, j].reshape(-1), [1.0]])
        out[j, idx] = w0 + np.linalg.lstsq(A, b - A @ w0, rcond=None)[0]
    return out


def _landmarks(model: Any, verts: np.ndarray, bone_of_vertex: np.ndarray, keypoints: dict[str, np.ndarray]) -> dict[str, int]:
    """Landmark vertex ids on the T-posed mean mesh (SMPL frame): the vertex nearest each of Anny's
    keypoints (face, toes, heels), and the head top and finger tips as extreme vertices of their bones."""
    labels = list(model.bone_labels)

    def extreme(bone: str, direction: tuple[float, float, float]) -> int:
        ids = np.flatnonzero(bone_of_vertex == labels.index(bone))
        return int(ids[np.argmax(verts[ids] @ np.asarray(direction))])

    ids = {name: int(np.argmin(np.linalg.norm(verts - point, axis=1))) for name, point in keypoints.items()}
    ids["head_top"] = extreme("head", (0.0, 1.0, 0.0))
    for s, side, x in (("l", "L", 1.0), ("r", "R", -1.0)):
        for k, finger in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            ids[f"{s}{finger}"] = extreme(f"finger{k}-3.{side}", (x, 0.0, 0.5 if k == 1 else 0.0))
    return ids


def _h36m_regressor(J_regressor: np.ndarray, landmark_ids: dict[str, int], V: int) -> np.ndarray:
    """H36M-17 rows (ntop.body.joints.H36M17 order) as blends of SMPL joints and landmark vertices."""

    def vertex(name: str) -> np.ndarray:
        row = np.zeros(V)
        row[landmark_ids[name]] = 1.0
        return row

    R = J_regressor
    return np.stack(
        [
            R[0],
            R[2],
            R[5],
            R[8],
            R[1],
            R[4],
            R[7],
            0.5 * (R[3] + R[6]),
            0.3 * R[9] + 0.7 * R[12],
            0.5 * (R[15] + vertex("nose")),
            0.5 * (R[15] + vertex("head_top")),
            R[16],
            R[18],
            R[20],
            R[17],
            R[19],
            R[21],
        ]
    )


#: Anny's keypoints (its COCO regressor) that become landmark vertices, by ntop's landmark name
_KEYPOINT_LANDMARKS = {
    "nose": "nose",
    "leye": "left_eye",
    "reye": "right_eye",
    "lear": "left_ear",
    "rear": "right_ear",
    "LBigToe": "left_big_toe",
    "RBigToe": "right_big_toe",
    "LSmallToe": "left_small_toe",
    "RSmallToe": "right_small_toe",
    "LHeel": "left_heel",
    "RHeel": "right_heel",
}


def _sparse_rows(rows: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """Regressor rows without their negligible weights (renormalised), so few vertices need skinning."""
    rows = np.where(np.abs(rows) < floor, 0.0, rows)
    return rows / rows.sum(1, keepdims=True)


def keypoint_regressor(model: Any, labels: list[str]) -> np.ndarray:
    """Rows ``(K, V)`` of Anny's own keypoint regressor (COCO-17 names plus feet) over its default topology."""
    from anny.keypoints import KeypointsRegressor

    return KeypointsRegressor.coco(model, labels=labels).regression_weights.numpy()


def build(components: int = 10, samples: int = 1000, seed: int = 0, model: Any = None) -> dict[str, np.ndarray]:
    """Convert Anny into an SMPL-format model (about a minute on 2 CPU cores, after Anny's own build)."""
    model = model or load_anny()
    labels = list(model.bone_labels)
    groups = bone_groups(labels)
    tpose = tpose_deltas(model)
    phenotypes = sample_phenotypes(samples, ADULT_AGES, seed)
    meshes, heads = posed(model, phenotypes, tpose[None])
    space = _shape_space(meshes, heads, components)
    anchors = anchor_bones(labels)
    joints = np.stack([space["head_coefficients"][:, a].mean(1) for a in anchors], 1)  # (1 + K, 24, 3)
    V = len(space["v_template"])
    J_regressor = _joint_regressor(space["v_template"], space["shapedirs"], joints)
    dense = np.zeros((V, len(labels)))
    np.put_along_axis(dense, model.vertex_bone_indices.numpy(), model.vertex_bone_weights.numpy(), axis=1)
    weights = np.zeros((V, 24))
    np.add.at(weights.T, groups, dense.T)
    mean_mesh, _ = posed(model, np.array(Phenotype().as_row()), tpose[None])  # landmarks on a typical adult
    keypoints = keypoint_regressor(model, list(_KEYPOINT_LANDMARKS.values())) @ mean_mesh[0]
    landmark_ids = _landmarks(model, mean_mesh[0], dense.argmax(1), dict(zip(_KEYPOINT_LANDMARKS, keypoints)))
    kintree = np.array([[2**32 - 1] + list(SMPL_PARENTS[1:]), list(range(24))], dtype=np.int64)
    faces = model.get_triangular_faces().numpy()
    return {
        "v_template": space["v_template"],
        "f": faces.astype(np.int64),
        "weights": weights,
        "J_regressor": J_regressor,
        "J_regressor_h36m": _h36m_regressor(J_regressor, landmark_ids, V),
        "J_regressor_coco17": _sparse_rows(keypoint_regressor(model, list(COCO17.names))),
        "J": J_regressor @ space["v_template"],
        "kintree_table": kintree,
        "shapedirs": space["shapedirs"],
        "posedirs": np.zeros((V, 3, 207)),
        "landmark_names": np.array(LANDMARKS),
        "landmark_ids": np.array([landmark_ids[n] for n in LANDMARKS], dtype=np.int64),
        "texture_coordinates": model.texture_coordinates.numpy(),  # MakeHuman's UV layout (CC0)
        "face_texture_indices": model.face_texture_coordinate_indices.numpy().astype(np.int64),
        "anny_tpose": tpose,
        "anny_explained_variance": space["explained_variance"][:components],
        "anny_version": np.array(VERSION),
    }


def phenotype_betas(phenotypes: list[Phenotype], data: dict[str, np.ndarray], model: Any = None) -> np.ndarray:
    """Shape coefficients ``(N, K)`` of a converted model for Anny builds: the T-posed Anny mesh of
    each build projected onto the model's components (least squares)."""
    if "anny_tpose" not in data:
        raise NtopError("phenotypes need the Anny body model (body_model: {kind: anny})", field="phenotype")
    model = model or load_anny()
    meshes, _ = posed(model, np.array([p.as_row() for p in phenotypes]), np.asarray(data["anny_tpose"])[None])
    dirs = np.asarray(data["shapedirs"]).reshape(-1, np.asarray(data["shapedirs"]).shape[-1])
    X = (meshes - np.asarray(data["v_template"])).reshape(len(phenotypes), -1)
    return np.linalg.lstsq(dirs, X.T, rcond=None)[0].T


def cached_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the converted model, building it once if the cache (``$NTOP_CACHE`` or ``~/.cache/ntop``) lacks it."""
    return cached_model(f"anny_smpl_v{VERSION}", build, cache_dir)
