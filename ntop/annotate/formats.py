"""Annotation files in the layouts their consumers' loaders read (the key names each loader expects).

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
    """Naming and dataset facts every format repeats for an image, made once for all of them."""

    def __init__(self, pv: PlannedViews, image_format: str, subject_code: int, action_code: int, licence: dict[str, str]):
        self.pv, self.licence = pv, licence
        self.subject_code, self.action_code = subject_code, action_code
        self.images = [
            [
                {"id": i, "file_name": f"{n}.{image_format}", "width": pv.size, "height": pv.size, "license": 1}
                for i, n in zip(ids, names)
            ]
            for ids, names in zip(pv.ids.tolist(), pv.names.tolist())
        ]
        K = pv.K.tolist()
        self.focal = [[k[:2] for k in row] for row in K]
        self.centre = [[k[2:] for k in row] for row in K]

    def header(self, description: str) -> dict[str, Any]:
        return {
            "info": {
                "description": description,
                "version": ntop.__version__,
                "year": dt.date.today().year,
                "contributor": "ntop",
                "date_created": dt.date.today().isoformat(),
            },
            "licenses": [{"id": 1, **self.licence}],
        }


def _annotated(labels: ViewLabels) -> list[list[int]]:
    """``[f, v]`` of the views that get an annotation (some alpha and some keypoint in the image)."""
    return np.argwhere((labels.area > 0) & (labels.vis["coco17"] > 0).any(-1)).tolist()


def _r(x: np.ndarray, nd: int) -> np.ndarray:
    """Rounded float64 ``(F, V, n)``: one flat, contiguous row per (frame, view), as each entry lists it."""
    x = np.round(np.asarray(x, dtype=np.float64), nd)
    return np.ascontiguousarray(x.reshape(x.shape[:2] + (-1,)))


def coco_files(meta: ImageMeta, labels: ViewLabels) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO keypoints file and mmpose's detection-box file (``[{image_id, category_id, bbox, score}]``)."""
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO17.names),
        "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges],
    }
    vis = labels.vis["coco17"]
    kps = _r(np.concatenate([labels.joints_uv["coco17"], vis[..., None]], -1), 2)
    bbox, n_kps = _r(labels.bbox, 2), (vis > 0).sum(-1)
    coco: dict[str, Any] = {
        **meta.header("ntop top-view fisheye COCO keypoints"),
        "categories": [category],
        "images": [img for row in meta.images for img in row],
        "annotations": [],
    }
    boxes = []
    for f, v in _annotated(labels):
        i = meta.images[f][v]["id"]
        coco["annotations"].append(
            {
                "id": i,
                "image_id": i,
                "category_id": 1,
                "segmentation": [],
                "area": float(labels.area[f, v]),
                "bbox": bbox[f, v],
                "iscrowd": 0,
                "num_keypoints": int(n_kps[f, v]),
                "keypoints": kps[f, v],
            }
        )
        boxes.append({"image_id": i, "category_id": 1, "bbox": bbox[f, v], "score": 1.0})
    return coco, boxes


_CHILD = np.array([max(c for c, p in enumerate(HYBRIK_PARENTS) if p == i) for i in range(1, 24)])


def twist_angles(thetas: np.ndarray, rest_joints29: np.ndarray) -> dict[str, np.ndarray]:
    """HybrIK's twist of joints 1..23 (radians) for poses ``(..., 72)``: the part of each local
    rotation about its bone; ``angle``, ``cos``, ``sin`` each ``(..., 23)``.

    Each joint's bone points to its highest-index child in the 29-joint tree, in the shaped rest pose;
    the swing is the smallest rotation taking the bone to its rotated self; twist = swing^-1 * R, signed
    along the bone. Where the twist axis is not along the bone (numerically) the angle is -999.
    """
    lead = thetas.shape[:-1]
    R = Rotation.from_rotvec(thetas.reshape(-1, 24, 3)[:, 1:].reshape(-1, 3))
    u = rest_joints29[_CHILD] - rest_joints29[1:24]
    u = np.tile(u / np.linalg.norm(u, axis=1, keepdims=True), (len(R) // 23, 1))
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
    out = {"angle": a, "cos": np.where(valid, np.cos(a), -999.0), "sin": np.where(valid, np.sin(a), -999.0)}
    return {k: np.round(x, 6).reshape(lead + (23,)) for k, x in out.items()}


def hybrik_files(
    meta: ImageMeta, labels: ViewLabels, rest_joints29: np.ndarray, has_h36m: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """HybrIK's ``H36mSMPL`` file (images[i] pairs annotations[i]) and the PW3D-style fisheye file."""
    F, V = meta.pv.shape
    h36m: dict[str, Any] = {
        **meta.header("ntop top-view fisheye, HybrIK H36mSMPL layout"),
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
        "images": [],
        "annotations": [],
    }
    pw3d: dict[str, Any] = {
        **meta.header("ntop top-view fisheye, HybrIK PW3D layout (fisheye 2D)"),
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
        "images": [],
        "annotations": [],
    }
    # twist depends only on the local (body) rotations: the same in every view of a frame
    twist = twist_angles(np.concatenate([np.zeros((F, 3)), labels.body_pose], 1), rest_joints29)
    thetas = np.concatenate([labels.global_orient_cam, np.broadcast_to(labels.body_pose[:, None], (F, V, 69))], -1)
    smpl29 = labels.joints_cam["hybrik29"]
    bbox, betas, thetas6 = _r(labels.bbox, 2), np.round(labels.betas.astype(np.float64), 6), _r(thetas, 6)
    smpl_mm, root_mm = _r(smpl29 * 1000, 2), _r(smpl29[:, :, 0] * 1000, 2)
    joint_cam = _r(smpl29[:, :, :24], 5)
    joint_img = _r(np.concatenate([labels.joints_uv["smpl24"], smpl29[:, :, :24, 2:3]], -1), 4)
    if has_h36m:
        h36m_mm, h36m_m = _r(labels.joints_cam["h36m17"] * 1000, 2), _r(labels.joints_cam["h36m17"], 5)
    cam_index, frame_index = meta.pv.cam_index.tolist(), meta.pv.frame_index.tolist()
    for f, v in _annotated(labels):
        img, focal, centre = meta.images[f][v], meta.focal[f][v], meta.centre[f][v]
        common = {
            "subject": meta.pv.subject,
            "subject_idx": meta.subject_code,
            "action_name": meta.pv.action,
            "action_idx": meta.action_code,
            "cam_idx": cam_index[f][v],
            "frame_idx": frame_index[f],
        }
        ann = {
            "id": img["id"],
            "image_id": img["id"],
            "category_id": 1,
            "iscrowd": 0,
            "area": float(labels.area[f, v]),
            "bbox": bbox[f, v],
            "smpl_joints": smpl_mm[f, v],
            "betas": betas,
            "thetas": thetas6[f, v],
            "root_coord": root_mm[f, v],
            "angle_twist": {k: x[f] for k, x in twist.items()},
        }
        if has_h36m:
            ann["h36m_joints"] = h36m_mm[f, v]
        h36m["images"].append({**img, **common, "cam_param": {"f": focal, "c": centre}})
        h36m["annotations"].append(ann)
        pann = {
            "id": img["id"],
            "image_id": img["id"],
            "bbox": bbox[f, v],
            "smpl_param": {"shape": betas, "pose": thetas6[f, v]},
            "smpl_joint_cam": joint_cam[f, v],
            "smpl_joint_img": joint_img[f, v],
            "smpl_joint_vis": labels.vis["smpl24"][f, v],
        }
        if has_h36m:
            pann["h36m_joints"] = h36m_m[f, v]
        pw3d["images"].append(
            {**img, **common, "sequence": f"{meta.pv.subject}_{meta.pv.action}", "cam_param": {"focal": focal, "princpt": centre}}
        )
        pw3d["annotations"].append(pann)
    return h36m, pw3d


def mppe_file(meta: ImageMeta, labels: ViewLabels) -> dict[str, Any]:
    """3DMPPE / PoseNet layout: H36M-17 ``joint_cam`` (mm) and ``joint_img`` (fisheye u, v, depth mm)."""
    out: dict[str, Any] = {**meta.header("ntop top-view fisheye, 3DMPPE layout"), "images": [], "annotations": []}
    cam = labels.joints_cam["h36m17"] * 1000
    bbox, joint_cam, joint_img = (
        _r(labels.bbox, 2),
        _r(cam, 2),
        _r(np.concatenate([labels.joints_uv["h36m17"], cam[..., 2:3]], -1), 3),
    )
    for f, v in _annotated(labels):
        img, focal, centre = meta.images[f][v], meta.focal[f][v], meta.centre[f][v]
        out["images"].append({**img, "cam_param": {"focal": focal, "princpt": centre}})
        out["annotations"].append(
            {
                "id": img["id"],
                "image_id": img["id"],
                "bbox": bbox[f, v],
                "joint_cam": joint_cam[f, v],
                "joint_img": joint_img[f, v],
                "joint_vis": labels.vis["h36m17"][f, v],
            }
        )
    return out
