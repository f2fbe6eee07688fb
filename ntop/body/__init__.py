"""Body models: SMPL via smplx, Anny converted into SMPL's format, the procedural model, joint sets."""

from ntop.body.joints import JOINT_SETS, JointSet
from ntop.body.model import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput", "JOINT_SETS", "JointSet"]
