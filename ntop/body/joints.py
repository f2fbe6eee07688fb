"""Joint sets ntop labels with: names, skeleton edges and flip pairs of SMPL-24, HybrIK-29, COCO-17, H36M-17.

Each set is defined in terms of what a body model provides: SMPL joints (by index), mesh landmark
vertices (by landmark name, resolved per model) or a regressor (H36M). ``ntop.body.BodyModel``
evaluates them; everything else only reads names and edges from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from smplx.vertex_ids import vertex_ids as SMPLH_VERTEX_IDS

SMPL_JOINTS: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

#: mesh landmarks a body model must name (vertex ids); smplx needs the first five for its face joints
LANDMARKS: tuple[str, ...] = (
    "nose",
    "reye",
    "leye",
    "rear",
    "lear",
    "head_top",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
    "lthumb",
    "lindex",
    "lmiddle",
    "lring",
    "lpinky",
    "rthumb",
    "rindex",
    "rmiddle",
    "rring",
    "rpinky",
)

#: SMPL's own landmark vertices (6890-vertex mesh): smplx's table plus HybrIK's head top
SMPL_LANDMARK_IDS: dict[str, int] = {**SMPLH_VERTEX_IDS["smplh"], "head_top": 411}


@dataclass(frozen=True)
class JointSet:
    """A named list of joints; ``sources`` say where each comes from (``smpl:<i>``, ``vertex:<landmark>``, ``regressor:<i>``)."""

    name: str
    names: tuple[str, ...]
    sources: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.names)


def _tree_edges(parents: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((p, i) for i, p in enumerate(parents) if p >= 0)


def _flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, n in enumerate(names):
        for a, b in (("left", "right"), ("L_", "R_")):
            if n.startswith(a) and n.replace(a, b, 1) in names:
                pairs.append((i, names.index(n.replace(a, b, 1))))
    return tuple(pairs)


SMPL24 = JointSet(
    "smpl24", SMPL_JOINTS, tuple(f"smpl:{i}" for i in range(24)), _tree_edges(SMPL_PARENTS), _flip_pairs(SMPL_JOINTS)
)

_HYBRIK_LEAVES = (
    ("head_top", "head_top", 15),
    ("left_middle", "lmiddle", 22),
    ("right_middle", "rmiddle", 23),
    ("left_bigtoe", "LBigToe", 10),
    ("right_bigtoe", "RBigToe", 11),
)
_H29_NAMES = SMPL_JOINTS + tuple(n for n, _, _ in _HYBRIK_LEAVES)
HYBRIK29 = JointSet(
    "hybrik29",
    _H29_NAMES,
    SMPL24.sources + tuple(f"vertex:{lm}" for _, lm, _ in _HYBRIK_LEAVES),
    _tree_edges(SMPL_PARENTS + tuple(p for _, _, p in _HYBRIK_LEAVES)),
    _flip_pairs(_H29_NAMES),
)

_COCO_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
COCO17 = JointSet(
    "coco17",
    _COCO_NAMES,
    ("vertex:nose", "vertex:leye", "vertex:reye", "vertex:lear", "vertex:rear")
    + tuple(f"smpl:{SMPL_JOINTS.index(n)}" for n in _COCO_NAMES[5:]),
    # COCO's skeleton, 0-based
    (
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),
    _flip_pairs(_COCO_NAMES),
)

# Row order of the H36M joint regressor files (J_regressor_h36m.npy): 1-3 are the *right* leg.
# HybrIK's loader calls index 1 "L_Hip"; the geometry here follows the regressor files.
_H36M_NAMES = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
_H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M17 = JointSet(
    "h36m17", _H36M_NAMES, tuple(f"regressor:{i}" for i in range(17)), _tree_edges(_H36M_PARENTS), _flip_pairs(_H36M_NAMES)
)

JOINT_SETS: dict[str, JointSet] = {s.name: s for s in (SMPL24, HYBRIK29, COCO17, H36M17)}
