"""Labels, their formats and their QA, on renders replaced by the SMPL body's own silhouettes."""

import json
import re

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from scipy.spatial.transform import Rotation

from ntop.annotate.formats import HYBRIK_PARENTS, twist_angles
from ntop.annotate.labels import grow_boxes
from ntop.annotate.stage import annotate
from ntop.assemble import assemble
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.errors import NtopError
from ntop.fisheye import alpha_boxes, write_render_stage
from ntop.qa.labels import body_depth, check_labels, coco_self_ap
from ntop.views import RigConfig, load_views, plan_views


def _silhouette_render(body, views_path, out, shift=0):
    """A render folder whose alpha is the label body's rasterized silhouette (optionally shifted)."""
    pv = load_views(views_path)
    s = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in pv.smpl.items()}
    with torch.no_grad():
        verts = body(s["global_orient"], s["body_pose"], s["betas"][None], s["transl"]).vertices
    alpha = np.stack([np.isfinite(body_depth(body, verts[f], pv, f)) for f in range(pv.shape[0])]).astype(np.float32)
    alpha = np.roll(alpha, shift, axis=-1)
    (out / "images").mkdir(parents=True)
    for f in range(pv.shape[0]):
        for v in range(pv.shape[1]):
            img = np.where(alpha[f, v, ..., None] > 0.5, 90, 255).astype(np.uint8).repeat(3, -1)
            cv2.imwrite(str(out / "images" / f"{pv.names[f, v]}.png"), img)
    write_render_stage(out / "render.h5", pv, alpha.astype(np.float16), np.zeros_like(alpha, dtype=np.float16), "png", {}, [])


@pytest.fixture(scope="module")
def labelled(body, tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    out = {}
    for subject, action, seed in (("s1", "wave", 1), ("s2", "squat", 2)):
        generate(body, subject, action, SyntheticConfig(num_frames=4, num_cameras=1, width=48, height=48, seed=seed), root / subject / "raw")
        ingest("synthetic", root / subject / "raw", subject, action, root / subject / "capture.h5", root / subject / "frames.h5")
        code = int(subject[1])
        lens = {"model": "opencv_fisheye", "dist": [0.05, -0.01, 0.002, 0.0]} if subject == "s2" else {}  # and NToP's equidistant
        plan_views(root / subject / "capture.h5", root / subject / "views.h5", RigConfig(size=128, frame_stride=2, **lens), (0, code, 1))
        _silhouette_render(body, root / subject / "views.h5", root / subject / "render")
        annotate(root / subject / "views.h5", root / subject / "render", body, root / subject / "labels", (0, code, 1), {"name": "test", "url": ""})
        out[subject] = root / subject
    return out


def test_coco_file_is_consistent_and_loads(labelled):
    path = labelled["s1"] / "labels" / "coco.json"
    coco = COCO(str(path))
    data = json.loads(path.read_text())
    assert len(data["images"]) == 2 * 9 and data["info"]["contributor"] == "ntop" and data["licenses"][0]["name"] == "test"
    assert data["categories"][0]["keypoints"][0] == "nose" and len(data["categories"][0]["skeleton"]) == 19
    for ann in coco.loadAnns(coco.getAnnIds()):
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum()) > 0
        assert (kps[kps[:, 2] == 0, :2] == 0).all()
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and ann["area"] > 0
        inside = kps[kps[:, 2] > 0, :2]
        assert ((inside >= [x - 2, y - 2]) & (inside <= [x + w + 2, y + h + 2])).all()  # joints sit in the box
        assert ann["id"] == ann["image_id"] < 2**53
    assert coco_self_ap(path) == 1.0
    boxes = json.loads((labelled["s1"] / "labels" / "bboxes.json").read_text())
    assert len(boxes) == len(coco.getAnnIds()) and boxes[0]["score"] == 1.0


def test_hybrik_and_3dmppe_files_follow_their_loaders(labelled, body):
    h36m = json.loads((labelled["s1"] / "labels" / "hybrik_h36m.json").read_text())
    assert len(h36m["images"]) == len(h36m["annotations"]) > 0
    for img, ann in zip(h36m["images"], h36m["annotations"]):
        assert ann["image_id"] == img["id"]  # HybrIK pairs by position
        assert len(ann["smpl_joints"]) == 87 and len(ann["h36m_joints"]) == 51 and len(ann["thetas"]) == 72 and len(ann["betas"]) == 10
        joints = np.asarray(ann["smpl_joints"]).reshape(29, 3)
        np.testing.assert_allclose(ann["root_coord"], joints[0], atol=1e-6)
        assert 300 < np.linalg.norm(joints[1] - joints[4]) < 550  # a thigh, in millimetres
        assert np.linalg.norm(np.asarray(ann["h36m_joints"][:3]) - joints[0]) < 60
        tw = ann["angle_twist"]
        ok = np.asarray(tw["angle"]) > -10
        np.testing.assert_allclose(np.cos(np.asarray(tw["angle"])[ok]), np.asarray(tw["cos"])[ok], atol=1e-5)
        assert img["cam_param"]["f"][0] == pytest.approx(128 / np.pi) and img["subject"] == "s1"
        # thetas' global orientation is the body's orientation seen from the camera
        pv = load_views(labelled["s1"] / "views.h5")
        f, v = np.argwhere(pv.ids == img["id"])[0]
        go_world = Rotation.from_rotvec(pv.smpl["global_orient"][f])
        np.testing.assert_allclose(Rotation.from_rotvec(ann["thetas"][:3]).as_matrix(), pv.R[f, v] @ go_world.as_matrix(), atol=1e-5)
    pw3d = json.loads((labelled["s1"] / "labels" / "hybrik_pw3d.json").read_text())
    a = pw3d["annotations"][0]
    assert len(a["smpl_joint_img"]) == 72 and len(a["smpl_joint_cam"]) == 72 and "focal" in pw3d["images"][0]["cam_param"]
    coco = {x["id"]: x for x in json.loads((labelled["s1"] / "labels" / "coco.json").read_text())["annotations"]}
    uv = np.asarray(a["smpl_joint_img"]).reshape(24, 3)[:, :2]
    kps = np.asarray(coco[a["image_id"]]["keypoints"]).reshape(17, 3)
    vis = np.asarray(a["smpl_joint_vis"]) > 0
    if vis[16] and kps[5, 2] > 0:  # left shoulder: SMPL 16 is COCO 5
        np.testing.assert_allclose(uv[16], kps[5, :2], atol=0.01)
    mppe = json.loads((labelled["s1"] / "labels" / "3dmppe.json").read_text())
    assert len(mppe["annotations"][0]["joint_cam"]) == 51 and len(mppe["annotations"][0]["joint_img"]) == 51


def test_twist_angles_isolate_rotation_about_the_bone():
    rest = np.zeros((29, 3))
    for j, p in enumerate(HYBRIK_PARENTS):
        if p >= 0:
            rest[j] = rest[p] + np.eye(3)[j % 3] * 0.1 + 0.01  # any non-degenerate bones
    child = max(c for c, p in enumerate(HYBRIK_PARENTS) if p == 18)  # the left elbow's child: the wrist
    bone = (rest[child] - rest[18]) / np.linalg.norm(rest[child] - rest[18])
    thetas = np.zeros(72)
    thetas[18 * 3 : 18 * 3 + 3] = bone * 0.7  # pure twist about the forearm
    knee_bone = rest[7] - rest[4]  # the knee's child is the ankle
    perp = np.cross(knee_bone, [0.3, 1.0, 0.2])
    thetas[4 * 3 : 4 * 3 + 3] = perp / np.linalg.norm(perp) * 0.5  # pure swing at the knee
    tw = twist_angles(thetas, rest)
    assert tw["angle"][17] == pytest.approx(0.7, abs=1e-5)  # joint 18 is entry 17 (pelvis excluded)
    assert abs(tw["angle"][3]) < 1e-6  # a swing has no twist
    assert tw["cos"][17] == pytest.approx(np.cos(0.7), abs=1e-6)


def test_alpha_boxes_are_tight_then_grown_and_clipped():
    alpha = np.zeros((2, 20, 30))
    alpha[0, 5:10, 8:18] = 1
    alpha[1, 0:4, 25:30] = 1
    tight, area = alpha_boxes(alpha)
    np.testing.assert_allclose(tight[0], [7.5, 4.5, 17.5, 9.5])
    assert area.tolist() == [50, 20]
    boxes = grow_boxes(tight, 0.1, 30)  # a square image 30 wide (taller than this one: no clipping in y)
    np.testing.assert_allclose(boxes[0], [7.5 - 1.0, 4.5 - 0.5, 12.0, 6.0])
    assert boxes[1][0] + boxes[1][2] == 30 and boxes[1][1] == 0  # clipped at the image border
    empty, _ = alpha_boxes(np.zeros((1, 5, 5)))
    assert (empty == 0).all() and (grow_boxes(empty, 0.1, 5) == 0).all()


def test_label_qa_passes_and_catches_drift(labelled, body, tmp_path):
    s1 = labelled["s1"]
    report = check_labels(s1 / "views.h5", s1 / "render", s1 / "labels", body)
    assert report["passed"], report
    assert report["checks"]["keypoints_vs_reference_projection"]["max_px"] <= 0.5
    assert report["checks"]["alpha_vs_label_silhouette"]["mean_iou"] > 0.999
    assert report["checks"]["visibility_vs_raycast"]["agreement"] >= 0.99 and report["checks"]["visibility_vs_raycast"]["joints"] > 50
    s2 = labelled["s2"]  # the Kannala-Brandt rig
    kb = check_labels(s2 / "views.h5", s2 / "render", s2 / "labels", body)
    assert kb["passed"] and 0 < kb["checks"]["keypoints_vs_reference_projection"]["max_px"] <= 0.5, kb
    _silhouette_render(body, s1 / "views.h5", tmp_path / "drifted", shift=4)  # the render no longer matches the labels
    drifted = check_labels(s1 / "views.h5", tmp_path / "drifted", s1 / "labels", body)
    assert not drifted["checks"]["alpha_vs_label_silhouette"]["passed"]


def test_annotate_refuses_renders_of_other_views(labelled, body, tmp_path):
    with pytest.raises(NtopError, match="ids differ"):
        annotate(labelled["s1"] / "views.h5", labelled["s2"] / "render", body, tmp_path / "x", (0, 1, 1), {"name": "", "url": ""})
    assert not (tmp_path / "x").exists()


def test_assemble_splits_by_subject_with_card_and_manifest(labelled, tmp_path):
    items = [{"subject": s, "action": a, "render": str(labelled[s] / "render"), "labels": str(labelled[s] / "labels")} for s, a in (("s1", "wave"), ("s2", "squat"))]
    config = {"dataset": {"licence": {"name": "BSD-3-Clause", "url": "https://example.org"}}, "keypoints": {"backend": "blazepose"}}
    counts = assemble(items, {"train": ["s1"], "val": ["s2"]}, tmp_path / "ds", images="link", config=config)
    assert counts["train"]["images"] == 18 and counts["val"]["images"] == 18
    ds = tmp_path / "ds"
    for split in ("train", "val"):
        for fmt in ("coco", "bboxes", "hybrik_h36m", "hybrik_pw3d", "3dmppe"):
            assert (ds / "annotations" / f"{split}_{fmt}.json").exists()
        assert coco_self_ap(ds / "annotations" / f"{split}_coco.json") == 1.0
    img = json.loads((ds / "annotations" / "val_coco.json").read_text())["images"][0]
    assert cv2.imread(str(ds / "images" / img["file_name"])) is not None  # links resolve
    manifest = json.loads((ds / "manifest.json").read_text())
    from ntop.io import file_digest

    assert manifest["files"]["annotations/train_coco.json"] == file_digest(ds / "annotations" / "train_coco.json")
    card = (ds / "README.md").read_text()
    assert "| s2 | squat |" in card and (ds / "card" / "box_sizes.png").exists() and (ds / "card" / "contact_sheet.png").exists()
    assert re.search(r"\| s2 \| squat \| cam \d \(h \d\.\d m, r \d\.\d m\) \| \d+ \|", card)  # one row per camera of each rig
    assert "- Source footage: BSD-3-Clause (https://example.org)." in card and "Anny (NAVER LABS, anny 0.6.2: code Apache-2.0, MakeHuman assets CC0)" in card and "BlazePose (Apache-2.0)" in card
    with pytest.raises(NtopError, match="subjects in no split: s2"):
        assemble(items, {"train": ["s1"]}, tmp_path / "ds2")
    assert not (tmp_path / "ds2").exists()


def test_the_card_tells_two_rigs_cameras_apart():
    from ntop.assemble import _camera_of

    low, high = "000001001000016" + "1005" + "3", "000001001000016" + "1210" + "3"
    assert _camera_of(low) == "cam 3 (h 1.0 m, r 0.5 m)" and _camera_of(high) == "cam 3 (h 1.2 m, r 1.0 m)"


def test_a_cap_over_a_vertex_joint_widens_its_visibility_margin_by_its_thickness(body):
    """The head top sits on the skin (margin: the slack); under a 3 cm cap it sits 3 cm below the surface."""
    from ntop.raster import vertex_normals
    from ntop.visibility import depth_margins

    rest, joints = body.shaped(None)
    crown = (rest[0, :, 1] > joints[0, 15, 1] + 0.05).numpy()  # y is up in the rest pose
    cap = np.where(crown[:, None], 0.03 * vertex_normals(rest, body.faces)[0].numpy(), 0.0)
    bare, capped = depth_margins(body, ["hybrik29"]), depth_margins(body, ["hybrik29"], None, cap)
    head_top = 24  # hybrik29's first vertex joint
    assert abs(capped[head_top] - bare[head_top] - 0.03) < 0.005, (bare[head_top], capped[head_top])
    assert np.abs(np.delete(capped - bare, head_top))[:24].max() < 1e-6  # SMPL's joints lie under skin the cap does not touch
