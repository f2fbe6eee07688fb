"""SMPL parameter sequences from wherever a subject's bodies come from: a capture's ground truth
(``gt/smpl``) or the ``fit_smpl`` stage (``smpl.h5``). The NeRF and the views read bodies only here,
so they do not care which it was."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntop.errors import NtopError
from ntop.io import open_stage, require

__all__ = ["SMPL_SCHEMA", "SmplSequence", "read_smpl"]

SMPL_SCHEMA = "smpl"


@dataclass
class SmplSequence:
    """One action's bodies: ``global_orient (T, 3)``, ``body_pose (T, 69)``, ``transl (T, 3)``,
    ``betas (10,)``, ``pelvis (T, 3)`` (the posed root joint), the capture's ``frame_index (T,)``, and
    a fitted person's personal ``offsets (V, 3)`` (None for the others: see ``BodyModel``) and the
    offsets of a detector's keypoints from the model's joints ``keypoint_offsets (J, 3)`` (None unless
    fitted; they move the detector's keypoints, never the body)."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    pelvis: np.ndarray
    frame_index: np.ndarray
    offsets: np.ndarray | None = None
    keypoint_offsets: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> "SmplSequence":
        return SmplSequence(
            self.global_orient[rows],
            self.body_pose[rows],
            self.transl[rows],
            self.betas,
            self.pelvis[rows],
            self.frame_index[rows],
            self.offsets,
            self.keypoint_offsets,
        )

    def params(self) -> dict[str, np.ndarray]:
        """The parameters ``BodyModel.pose`` takes (``offsets`` only where there are some)."""
        shape = {} if self.offsets is None else {"offsets": self.offsets}
        return {
            "global_orient": self.global_orient,
            "body_pose": self.body_pose,
            "transl": self.transl,
            "betas": self.betas,
            **shape,
        }


def read_smpl(path: str | Path, action: str | None = None) -> SmplSequence:
    """Bodies of ``action`` from ``smpl.h5`` (which holds every action of a subject), or a capture's ground truth."""
    with open_stage(path, (SMPL_SCHEMA, "capture")) as f:
        if f.attrs["schema"] == "capture":
            index = require(f, "frame_index")[()]
            if "smpl" in f:  # the dataset's own bodies, converted by its adapter
                g = f["smpl"]
                pelvis = require(g, "pelvis")[()]
            elif "gt/smpl" in f:
                g, pelvis = f["gt/smpl"], require(f, "gt/joints3d/smpl24")[:, 0]
            else:
                raise NtopError("this capture has no SMPL bodies: fit them (subject setting smpl: fit)", path, "smpl")
        else:
            if action is None or f"actions/{action}" not in f:
                raise NtopError(f"no bodies for action {action!r}", path, f"actions/{action}")
            g = f[f"actions/{action}"]
            index, pelvis = require(g, "frame_index")[()], require(g, "pelvis")[()]
        T = len(index)
        seq = SmplSequence(
            require(g, "global_orient")[()].reshape(T, 3),
            require(g, "body_pose")[()].reshape(T, 69),
            require(g, "transl")[()].reshape(T, 3),
            require(f if f.attrs["schema"] == SMPL_SCHEMA else g, "betas")[()].reshape(-1),
            pelvis,
            index,
            *(f[k][()] if f.attrs["schema"] == SMPL_SCHEMA and k in f else None for k in ("offsets", "keypoint_offsets")),
        )
    if not all(np.isfinite(a).all() for a in seq.params().values()):
        raise NtopError("SMPL parameters contain NaN or infinity", path, "smpl")
    return seq
