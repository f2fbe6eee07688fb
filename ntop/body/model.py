"""``BodyModel``: SMPL through smplx, for the official model files, Anny converted and ntop's procedural body.

Every body in ntop is posed here: the capture's ground truth, the fitted bodies, the NeRF's
deformation and the labels, so that a label is always the same function of the same parameters.

A fitted real person may also carry personal ``offsets`` (SMPL+D): a displacement of every rest
vertex that the shape space cannot express (a cap, hair, muscles), skinned with the body. They move
the surface only: joints and keypoints are always those of the body without them.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import smplx
import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints
from smplx.utils import Struct

from ntop.body import procedural
from ntop.body.joints import JOINT_SETS, LANDMARKS, SMPL_LANDMARK_IDS
from ntop.body.loaders import load_model_file
from ntop.errors import NtopError

__all__ = ["BodyModel", "BodyOutput"]


@dataclass
class BodyOutput:
    """Posed bodies: ``vertices (B, V, 3)`` and SMPL's ``joints (B, 24, 3)``, metres, world frame;
    ``offsets (B, V, 3)``: the posed personal offsets included in ``vertices`` (None without them)."""

    vertices: torch.Tensor
    joints: torch.Tensor
    offsets: torch.Tensor | None = None

    @property
    def bare_vertices(self) -> torch.Tensor:
        """The vertices without personal offsets: what keypoints are regressed from."""
        return self.vertices if self.offsets is None else self.vertices - self.offsets


class BodyModel(torch.nn.Module):
    """A batched SMPL layer (smplx) plus ntop's joint sets.

    ``BodyModel.from_file(path)`` reads an official ``.pkl`` or an ``.npz``;
    ``BodyModel.procedural()`` uses the generated model (cached on first use).
    """

    def __init__(self, data: dict[str, Any], source: str = "<memory>", dtype: torch.dtype = torch.float32):
        super().__init__()
        self.source = source
        n_verts = int(np.asarray(data["v_template"]).shape[0])
        self.landmark_ids = self._landmarks(data, n_verts, source)
        arrays = {k: np.asarray(v) for k, v in data.items()}
        arrays["f"] = arrays["f"].astype(np.int64)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a harmless warning on every load
            self.smpl = smplx.SMPL(model_path="", data_struct=Struct(**arrays), vertex_ids=self.landmark_ids, dtype=dtype)
        h36m = arrays.get("J_regressor_h36m")
        self.register_buffer("J_regressor_h36m", None if h36m is None else torch.as_tensor(h36m, dtype=dtype))
        #: joint sets the model regresses from its own mesh instead of the shared definition (Anny's COCO-17)
        self.regressed_sets = [name for name in JOINT_SETS if f"J_regressor_{name}" in arrays]
        for name in self.regressed_sets:
            rows = torch.as_tensor(arrays[f"J_regressor_{name}"], dtype=dtype)
            if rows.shape != (len(JOINT_SETS[name]), n_verts):
                expected = (len(JOINT_SETS[name]), n_verts)
                raise NtopError(f"must have shape {expected}, got {tuple(rows.shape)}", source, f"J_regressor_{name}")
            self.register_buffer(f"J_regressor_{name}", rows)
            self.register_buffer(f"J_regressor_{name}_columns", rows.abs().sum(0).nonzero()[:, 0])  # the vertices it reads
        self.register_buffer("faces", self.smpl.faces_tensor.clone())
        #: UV coordinates ``(T, 2)`` and each face's corners in them ``(F, 3)``, where the model has a layout (Anny)
        uv, uv_faces = arrays.get("texture_coordinates"), arrays.get("face_texture_indices")
        self.register_buffer("texture_coordinates", None if uv is None else torch.as_tensor(uv, dtype=dtype))
        self.register_buffer("face_texture_indices", None if uv_faces is None else torch.as_tensor(uv_faces, dtype=torch.long))
        self.register_buffer("weights", self.smpl.lbs_weights.clone())
        self.num_betas = int(self.smpl.num_betas)
        self.has_pose_blend_shapes = bool(self.smpl.posedirs.abs().max() > 0)

    @staticmethod
    def _landmarks(data: dict[str, Any], n_verts: int, source: str) -> dict[str, int]:
        if "landmark_ids" in data:
            names = [str(n) for n in np.asarray(data["landmark_names"])]
            ids = dict(zip(names, np.asarray(data["landmark_ids"]).tolist()))
        elif n_verts == 6890:
            ids = dict(SMPL_LANDMARK_IDS)
        else:
            raise NtopError(f"a {n_verts}-vertex model needs its own landmark vertex ids", source, "landmark_ids")
        missing = [n for n in LANDMARKS if n not in ids]
        if missing:
            raise NtopError(f"landmarks missing: {', '.join(missing)}", source, "landmark_names")
        if max(ids.values()) >= n_verts:
            raise NtopError("a landmark vertex id is out of range", source, "landmark_ids")
        return ids

    @classmethod
    def from_file(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "BodyModel":
        return cls(load_model_file(path), source=str(path), dtype=dtype)

    @classmethod
    def procedural(cls, cache_dir: str | Path | None = None, dtype: torch.dtype = torch.float32) -> "BodyModel":
        return cls.from_file(procedural.cached_path(cache_dir), dtype=dtype)

    @property
    def num_vertices(self) -> int:
        return int(self.smpl.v_template.shape[0])

    @property
    def template(self) -> torch.Tensor:
        return self.smpl.v_template

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        offsets: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose bodies. ``global_orient (B, 3)``, ``body_pose (B, 23, 3)`` or ``(B, 69)`` axis-angle
        (radians), ``betas (B, n)`` or ``(n,)`` (shared), ``transl (B, 3)`` metres, personal ``offsets
        (V, 3)`` metres in the rest pose (skinned like the vertices they move)."""
        B = global_orient.shape[0]
        dtype, device = self.smpl.v_template.dtype, self.smpl.v_template.device
        body_pose = body_pose.reshape(B, -1)
        if betas is None:
            betas = torch.zeros(1, self.num_betas, dtype=dtype, device=device)
        betas = betas.reshape(-1, betas.shape[-1])[:, : self.num_betas]
        if transl is None:
            transl = torch.zeros(B, 3, dtype=dtype, device=device)
        out = self.smpl(betas=betas.expand(B, -1), body_pose=body_pose, global_orient=global_orient, transl=transl)
        if offsets is None:
            return BodyOutput(vertices=out.vertices, joints=out.joints[:, :24])
        A = self.bone_transforms(global_orient, body_pose, betas)
        rotations = torch.einsum("vk,bkij->bvij", self.smpl.lbs_weights, A[..., :3, :3])
        posed_offsets = torch.einsum("bvij,vj->bvi", rotations, offsets.to(dtype))
        return BodyOutput(vertices=out.vertices + posed_offsets, joints=out.joints[:, :24], offsets=posed_offsets)

    def pose(self, params: dict[str, Any]) -> BodyOutput:
        """Pose a sequence's parameters (``global_orient``, ``body_pose``, ``transl``, shared ``betas``,
        optional ``offsets``; arrays or tensors), as ``SmplSequence.params()`` gives them."""
        t = {
            k: torch.as_tensor(v, dtype=self.template.dtype, device=self.template.device)
            for k, v in params.items()
            if v is not None
        }
        return self(t["global_orient"], t["body_pose"], t["betas"].reshape(1, -1), t["transl"], t.get("offsets"))

    def shaped(self, betas: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest-pose vertices ``(B, V, 3)`` and joints ``(B, 24, 3)`` for shape ``betas`` (no pose, no translation)."""
        if betas is None:
            betas = self.template.new_zeros(1, self.num_betas)
        betas = betas.reshape(-1, betas.shape[-1])[:, : self.num_betas]
        v = self.smpl.v_template + blend_shapes(betas, self.smpl.shapedirs)
        return v, vertices2joints(self.smpl.J_regressor, v)

    def bone_transforms(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-joint rigid transforms ``(B, 24, 4, 4)`` taking the shaped rest pose to the posed body.

        Linear blend skinning with these (weights ``self.weights``) reproduces :meth:`forward`'s
        vertices up to pose-corrective blend shapes; the NeRF inverts it to reach canonical space.
        """
        B = global_orient.shape[0]
        _, joints = self.shaped(betas)
        rot = batch_rodrigues(torch.cat([global_orient.reshape(B, 3), body_pose.reshape(B, 69)], 1).reshape(-1, 3)).reshape(
            B, 24, 3, 3
        )
        _, A = batch_rigid_transform(rot, joints.expand(B, -1, -1), self.smpl.parents, dtype=rot.dtype)
        if transl is not None:
            A = A.clone()
            A[..., :3, 3] += transl.reshape(B, 1, 3)
        return A

    def joint_set(self, out: BodyOutput, name: str) -> torch.Tensor:
        """Joints of the named set (``smpl24``, ``hybrik29``, ``coco17``, ``h36m17``): ``(B, J, 3)``."""
        if name not in JOINT_SETS:
            raise NtopError(f"unknown joint set {name!r}; known: {', '.join(JOINT_SETS)}")
        vertices = out.bare_vertices
        if name in self.regressed_sets:
            return torch.einsum("jv,bvc->bjc", getattr(self, f"J_regressor_{name}"), vertices)
        sources = [src.split(":") for src in JOINT_SETS[name].sources]
        rows = [int(key) for kind, key in sources if kind == "regressor"]
        if rows and self.J_regressor_h36m is None:
            raise NtopError("this body model has no H36M joint regressor", self.source, "J_regressor_h36m")
        regressed = iter(torch.einsum("jv,bvc->jbc", self.J_regressor_h36m[rows], vertices) if rows else ())
        cols = []
        for kind, key in sources:
            if kind == "smpl":
                cols.append(out.joints[:, int(key)])
            elif kind == "vertex":
                cols.append(vertices[:, self.landmark_ids[key]])
            else:
                cols.append(next(regressed))
        return torch.stack(cols, 1)

    def joint_weights(self, name: str) -> torch.Tensor:
        """How much each bone moves each joint of the named set ``(J, 24)``: the skinning weights of the
        vertices a joint is regressed from, blended as the regressor blends them (a vertex landmark's own
        weights; an SMPL joint moves with its bone alone)."""
        if name in self.regressed_sets:
            return getattr(self, f"J_regressor_{name}") @ self.smpl.lbs_weights
        rows = []
        for kind, key in (src.split(":") for src in JOINT_SETS[name].sources):
            if kind == "smpl":
                rows.append(torch.nn.functional.one_hot(torch.tensor(int(key)), 24).to(self.smpl.lbs_weights))
            elif kind == "vertex":
                rows.append(self.smpl.lbs_weights[self.landmark_ids[key]])
            else:
                rows.append(self.J_regressor_h36m[int(key)] @ self.smpl.lbs_weights)
        return torch.stack(rows)

    def turned_offsets(
        self, global_orient: torch.Tensor, body_pose: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """Rest-pose offsets ``(J, 3)`` of a joint set's joints as the posed bodies turn them ``(B, J, 3)``
        (the rotations of their bones, blended by the set's :meth:`joint_weights` ``(J, 24)``, which a
        caller computes once): where a detector's keypoint sits relative to the model's joint, in every frame."""
        B = global_orient.shape[0]
        pose = torch.cat([global_orient.reshape(B, 3), body_pose.reshape(B, 69)], 1)
        R = self.bone_transforms(pose[:, :3], pose[:, 3:])[..., :3, :3]  # the bones' world rotations
        turn = torch.einsum("jk,bkxy->bjxy", weights.to(R), R)
        return torch.einsum("bjxy,jy->bjx", turn, offsets.to(turn))

    def joints_only(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        name: str = "smpl24",
    ) -> torch.Tensor:
        """The named joint set ``(B, J, 3)`` without posing the whole mesh: SMPL joints from the kinematic
        chain, landmark vertices by skinning just those vertices (pose blend shapes included), so it
        equals ``joint_set(forward(...), name)``. Fitting calls it thousands of times."""
        sources = JOINT_SETS[name].sources if name in JOINT_SETS else ()
        regressed = name in self.regressed_sets
        if not sources or (not regressed and any(src.startswith("regressor:") for src in sources)):
            return self.joint_set(self.forward(global_orient, body_pose, betas, transl), name)
        B = global_orient.shape[0]
        if betas is None:
            betas = self.template.new_zeros(1, self.num_betas)
        betas = betas.reshape(-1, betas.shape[-1])[:, : self.num_betas]
        rot = batch_rodrigues(torch.cat([global_orient.reshape(B, 3), body_pose.reshape(B, 69)], 1).reshape(-1, 3)).reshape(
            B, 24, 3, 3
        )
        v_shaped = self.smpl.v_template + blend_shapes(betas, self.smpl.shapedirs)  # (1 or B, V, 3)
        rest = vertices2joints(self.smpl.J_regressor, v_shaped).expand(B, -1, -1)
        posed, A = batch_rigid_transform(rot, rest, self.smpl.parents, dtype=rot.dtype)
        if regressed:
            rows, columns = getattr(self, f"J_regressor_{name}"), getattr(self, f"J_regressor_{name}_columns")
            out = self._regressed_joints(rows, columns, rot, A, v_shaped)
        else:
            vertex_sources = [src for src in sources if src.startswith("vertex:")]
            ids = [self.landmark_ids[src.split(":")[1]] for src in vertex_sources]
            ids = torch.as_tensor(ids, dtype=torch.long, device=rot.device)
            cols = dict(zip(vertex_sources, self._skinned(ids, rot, A, v_shaped).unbind(1))) if vertex_sources else {}
            out = torch.stack([posed[:, int(src[5:])] if src.startswith("smpl:") else cols[src] for src in sources], 1)
        return out if transl is None else out + transl.reshape(B, 1, 3)

    def _regressed_joints(
        self, rows: torch.Tensor, idx: torch.Tensor, rot: torch.Tensor, A: torch.Tensor, v_shaped: torch.Tensor
    ) -> torch.Tensor:
        """Joints ``(B, J, 3)`` a regressor ``rows (J, V)`` takes from the posed mesh (its non-zero columns
        ``idx``). Without pose blend shapes, skinning is linear in the joint transforms: each regressed joint
        is ``sum_k A_k m_jk`` with ``m_jk`` the regressor's blend of the rest vertices skinned to joint k
        (once per shape, not per frame)."""
        if self.has_pose_blend_shapes:
            return torch.einsum("jl,blc->bjc", rows[:, idx], self._skinned(idx, rot, A, v_shaped))
        homogeneous = torch.cat([v_shaped[:, idx], v_shaped.new_ones(v_shaped.shape[0], len(idx), 1)], -1)
        m = torch.einsum("jl,lk,slc->sjkc", rows[:, idx], self.smpl.lbs_weights[idx], homogeneous)  # (1 or B, J, 24, 4)
        if m.shape[0] == 1:  # one shape for every frame: a plain contraction (8x faster than a batched one)
            return torch.einsum("bkrc,jkc->bjr", A[..., :3, :], m[0])
        return torch.einsum("bkrc,bjkc->bjr", A[..., :3, :], m)

    def _skinned(self, idx: torch.Tensor, rot: torch.Tensor, A: torch.Tensor, v_shaped: torch.Tensor) -> torch.Tensor:
        """Posed vertices ``(B, L, 3)`` of the vertex subset ``idx``: pose blend shapes and skinning
        of just those vertices (as smplx's lbs does for all of them)."""
        B = rot.shape[0]
        pose_feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype, device=rot.device)).reshape(B, -1)
        posedirs = self.smpl.posedirs.reshape(-1, self.num_vertices, 3)[:, idx]  # (207, L, 3)
        v = v_shaped[:, idx] + torch.einsum("bp,plc->blc", pose_feature, posedirs)
        T = torch.einsum("lk,bkij->blij", self.smpl.lbs_weights[idx], A)
        return torch.einsum("blij,blj->bli", T[..., :3, :3], v) + T[..., :3, 3]

    def available_joint_sets(self) -> list[str]:
        return [n for n in JOINT_SETS if n != "h36m17" or self.J_regressor_h36m is not None]
