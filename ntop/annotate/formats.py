"""Annotation files in the layouts their consumers read (``../shared/reference/annotation-formats.md``).

- COCO keypoints (pycocotools, mmpose, ViTPose) and mmpose's detection-box file;
- HybrIK ``H36mSMPL`` (camera-frame joints in mm, thetas with the global orientation in the camera
  frame, twist angles); that loader re-projects 3D joints with a pinhole ``cam_param``, which is wrong
  for fisheye images, so the fisheye-correct 2D also goes to a ``PW3D``-style file (``smpl_joint_img``);
- 3DMPPE / PoseNet (``joint_cam`` in mm, ``joint_img`` with the fisheye pixels).

One person per image: an annotation's id equals its image's id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

import ntop
from ntop.annotate.labels import ViewLabels
from ntop.body.joints import COCO17, SMPL_PARENTS
from ntop.views import PlannedViews

__all__ = ["ImageMeta", "coco_files", "hybrik_files", "mppe_file", "twist_angles", "HYBRIK_PARENTS"]

#: parents of HybrIK's 29 joints: SMPL's 24, then head top, middle finger tips, big toes
HYBRIK_PARENTS = SMPL_PARENTS + (15, 22, 23, 10, 11)


class ImageMeta:
    """Naming and dataset facts every format repeats for an image."""

    def __init__(self, pv: PlannedViews, image_format: str, subject_code: int, action_code: int, licence: dict[str, str]):
        self.pv, self.ext, self.licence = pv, image_format, licence
        self.subject_code, self.action_code = subject_code, action_code

    def image(self, f: int, v: int) -> dict[str, Any]:
        return {"id": int(self.pv.ids[f, v]), "file_name": f"{self.pv.names[f, v]}.{self.ext}", "width": self.pv.size, "height": self.pv.size, "license": 1}

    def header(self, description: str) -> dict[str, Any]:
        return {
            "info": {"description": description, "version": ntop.__version__, "year": dt.date.today().year, "contributor": "ntop",
                     "date_created": dt.date.today().isoformat()},  # fmt: skip
            "licenses": [{"id": 1, **self.licence}],
        }

    def cam_param(self, f: int, v: int) -> tuple[list[float], list[float]]:
        fx, fy, cx, cy = self.pv.K[f, v]
        return [float(fx), float(fy)], [float(cx), float(cy)]


def _valid(labels: ViewLabels, f: int, v: int) -> bool:
    return labels.area[f, v] > 0 and (labels.vis["coco17"][f, v] > 0).any()


def _r(x: np.ndarray, nd: int = 3) -> list[float]:
    return np.round(np.asarray(x, dtype=np.float64).reshape(-1), nd).tolist()


def coco_files(meta: ImageMeta, labels: ViewLabels) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO keypoints file and mmpose's detection-box file (``[{image_id, category_id, bbox, score}]``)."""
    F, V = meta.pv.shape
    category = {
        "id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.names),
        "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges],
    }  # fmt: skip
    coco: dict[str, Any] = {**meta.header("ntop top-view fisheye COCO keypoints"), "categories": [category], "images": [], "annotations": []}
    boxes = []
    for f in range(F):
        for v in range(V):
            img = meta.image(f, v)
            coco["images"].append(img)
            if not _valid(labels, f, v):
                continue
            vis = labels.vis["coco17"][f, v]
            kps = np.concatenate([labels.joints_uv["coco17"][f, v], vis[:, None]], 1)
            bbox = _r(labels.bbox[f, v], 2)
            coco["annotations"].append({
                "id": img["id"], "image_id": img["id"], "category_id": 1, "segmentation": [], "area": float(labels.area[f, v]),
                "bbox": bbox, "iscrowd": 0, "num_keypoints": int((vis > 0).sum()), "keypoints": _r(kps, 2),
            })  # fmt: skip
            boxes.append({"image_id": img["id"], "category_id": 1, "bbox": bbox, "score": 1.0})
    return coco, boxes


_CHILD = np.array([max(c for c, p in enumerate(HYBRIK_PARENTS) if p == i) for i in range(1, 24)])


def twist_angles(thetas: np.ndarray, rest_joints29: np.ndarray) -> dict[str, list[float]]:
    """HybrIK's twist of joints 1..23 (radians): the part of each local rotation about its bone.

    Each joint's bone points to its highest-index child in the 29-joint tree, in the shaped rest pose;
    the swing is the smallest rotation taking the bone to its rotated self; twist = swing^-1 * R, signed
    along the bone. Where the twist axis is not along the bone (numerically) the angle is -999.
    """
    R = Rotation.from_rotvec(thetas.reshape(24, 3)[1:])
    u = rest_joints29[_CHILD] - rest_joints29[1:24]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    Ru = R.apply(u)
    axis = np.cross(u, Ru)
    sin = np.linalg.norm(axis, axis=1)
    cos = np.clip(np.einsum("ij,ij->i", u, Ru), -1, 1)
    swing_vec = np.where(sin[:, None] > 1e-12, axis / np.maximum(sin, 1e-12)[:, None] * np.arctan2(sin, cos)[:, None], 0.0)
    twist = (Rotation.from_rotvec(swing_vec).inv() * R).as_rotvec()
    angle = np.linalg.norm(twist, axis=1)
    along = np.einsum("ij,ij->i", twist, u) / np.maximum(angle, 1e-12)
    a = np.where(angle < 1e-9, 0.0, np.where(np.abs(along) > 0.99, angle * np.sign(along), -999.0))
    valid = a > -10
    return {"angle": _r(a, 6), "cos": _r(np.where(valid, np.cos(a), -999.0), 6), "sin": _r(np.where(valid, np.sin(a), -999.0), 6)}


def hybrik_files(meta: ImageMeta, labels: ViewLabels, rest_joints29: np.ndarray, has_h36m: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """HybrIK's ``H36mSMPL`` file (images[i] pairs annotations[i]) and the PW3D-style fisheye file."""
    F, V = meta.pv.shape
    h36m: dict[str, Any] = {**meta.header("ntop top-view fisheye, HybrIK H36mSMPL layout"), "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
                            "images": [], "annotations": []}  # fmt: skip
    pw3d: dict[str, Any] = {**meta.header("ntop top-view fisheye, HybrIK PW3D layout (fisheye 2D)"), "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
                            "images": [], "annotations": []}  # fmt: skip
    for f in range(F):
        # twist depends only on the local (body) rotations: the same in every view of a frame
        twist = twist_angles(np.concatenate([np.zeros(3), labels.body_pose[f]]), rest_joints29)
        for v in range(V):
            if not _valid(labels, f, v):
                continue
            img = meta.image(f, v)
            focal, centre = meta.cam_param(f, v)
            thetas = np.concatenate([labels.global_orient_cam[f, v], labels.body_pose[f]])
            smpl29 = labels.joints_cam["hybrik29"][f, v]
            bbox = _r(labels.bbox[f, v], 2)
            common = {"subject": meta.pv.subject, "subject_idx": meta.subject_code, "action_name": meta.pv.action, "action_idx": meta.action_code,
                      "cam_idx": int(meta.pv.cam_index[f, v]), "frame_idx": int(meta.pv.frame_index[f])}  # fmt: skip
            ann = {"id": img["id"], "image_id": img["id"], "category_id": 1, "iscrowd": 0, "area": float(labels.area[f, v]), "bbox": bbox,
                   "smpl_joints": _r(smpl29 * 1000, 2), "betas": _r(labels.betas, 6), "thetas": _r(thetas, 6),
                   "root_coord": _r(smpl29[0] * 1000, 2), "angle_twist": twist}  # fmt: skip
            if has_h36m:
                ann["h36m_joints"] = _r(labels.joints_cam["h36m17"][f, v] * 1000, 2)
            h36m["images"].append({**img, **common, "cam_param": {"f": focal, "c": centre}})
            h36m["annotations"].append(ann)
            uv = labels.joints_uv["smpl24"][f, v]
            joint_img = np.concatenate([uv, smpl29[:24, 2:3]], 1)
            pann = {"id": img["id"], "image_id": img["id"], "bbox": bbox, "smpl_param": {"shape": _r(labels.betas, 6), "pose": _r(thetas, 6)},
                    "smpl_joint_cam": _r(smpl29[:24], 5), "smpl_joint_img": _r(joint_img, 4), "smpl_joint_vis": labels.vis["smpl24"][f, v].tolist()}  # fmt: skip
            if has_h36m:
                pann["h36m_joints"] = _r(labels.joints_cam["h36m17"][f, v], 5)
            pw3d["images"].append({**img, **common, "sequence": f"{meta.pv.subject}_{meta.pv.action}", "cam_param": {"focal": focal, "princpt": centre}})
            pw3d["annotations"].append(pann)
    return h36m, pw3d


def mppe_file(meta: ImageMeta, labels: ViewLabels) -> dict[str, Any]:
    """3DMPPE / PoseNet layout: H36M-17 ``joint_cam`` (mm) and ``joint_img`` (fisheye u, v, depth mm)."""
    F, V = meta.pv.shape
    out: dict[str, Any] = {**meta.header("ntop top-view fisheye, 3DMPPE layout"), "images": [], "annotations": []}
    for f in range(F):
        for v in range(V):
            if not _valid(labels, f, v):
                continue
            img = meta.image(f, v)
            focal, centre = meta.cam_param(f, v)
            cam = labels.joints_cam["h36m17"][f, v] * 1000
            joint_img = np.concatenate([labels.joints_uv["h36m17"][f, v], cam[:, 2:3]], 1)
            out["images"].append({**img, "cam_param": {"focal": focal, "princpt": centre}})
            out["annotations"].append({"id": img["id"], "image_id": img["id"], "bbox": _r(labels.bbox[f, v], 2), "joint_cam": _r(cam, 2),
                                       "joint_img": _r(joint_img, 3), "joint_vis": labels.vis["h36m17"][f, v].tolist()})  # fmt: skip
    return out
