import json

import h5py
import numpy as np
import pytest
import torch

from ntop.datasets.canonical import Capture
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate, pose_sequence
from ntop.datasets.synthetic.motions import MOTIONS, motion
from ntop.errors import NtopError
from ntop.qa.capture import check_capture, run

TINY = SyntheticConfig(num_frames=8, num_cameras=3, width=96, height=96, seed=3)


@pytest.fixture(scope="module")
def raw(body, tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "demo" / "wave"
    generate(body, "demo", "wave", TINY, out)
    return out


@pytest.fixture(scope="module")
def capture(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest")
    ingest("synthetic", raw, "demo", "wave", out / "capture.h5", out / "frames.h5", stride=2)
    return out / "capture.h5", out / "frames.h5"


@pytest.mark.parametrize("name", list(MOTIONS))
def test_motions_are_smooth_and_inside_joint_limits(name):
    pose, yaw, path = motion(name, 100, 25.0)
    angles = np.linalg.norm(pose, axis=-1)
    assert angles.max() < np.radians(150)  # no joint folds further than a human's
    step = np.linalg.norm(np.diff(pose, axis=0), axis=-1).max()
    assert step < np.radians(15)  # at 25 fps: no jumps (a brisk wave reaches ~350 deg/s)
    assert np.abs(np.diff(yaw)).max() < np.radians(5)
    assert pose.std(0).max() > np.radians(5)  # and it does move
    speed = np.linalg.norm(np.diff(path, axis=0), axis=-1) * 25.0
    assert speed.max() < 1.5 and np.abs(path).max() < 1.0  # walking pace, inside the cameras' view


def test_walk_faces_where_it_goes():
    _, yaw, path = motion("walk", 50, 25.0)
    facing = np.stack([np.sin(yaw), -np.cos(yaw)], 1)[:-1]  # yaw 0 faces the world's -y
    heading = np.diff(path, axis=0)
    heading /= np.linalg.norm(heading, axis=1, keepdims=True)
    assert (facing * heading).sum(1).min() > np.cos(np.radians(10))


def test_bodies_stand_on_the_floor(body):
    params = pose_sequence(body, "squat", SyntheticConfig(num_frames=30, seed=1))
    with torch.no_grad():
        out = body(*(torch.as_tensor(params[k], dtype=torch.float32) for k in ("global_orient", "body_pose")),
                   torch.as_tensor(params["betas"], dtype=torch.float32)[None], torch.as_tensor(params["transl"], dtype=torch.float32))  # fmt: skip
    lowest = out.vertices[..., 2].amin(1)
    assert lowest.abs().max() < 1e-5
    head = out.joints[:, 15, 2]
    assert head.max() - head.min() > 0.3  # the squat really goes down
    assert (out.vertices[..., 2].amax(1) > 1.0).all()  # z is up


def test_raw_capture_layout(raw):
    meta = json.loads((raw / "meta.json").read_text())
    assert meta["num_frames"] == 8 and meta["cameras"] == ["cam00", "cam01", "cam02"]
    assert sorted(p.name for p in (raw / "videos").iterdir()) == ["cam00.avi", "cam01.avi", "cam02.avi"]
    with h5py.File(raw / "gt.h5") as f:
        assert f.attrs["schema"] == "synthetic_gt"
        assert f["masks"].shape == (3, 8, 96, 96) and f["joints2d/coco17"].shape == (3, 8, 17, 2)
        masks, vis, uv = f["masks"][()], f["visibility/coco17"][()], f["joints2d/coco17"][()]
    assert masks.any((2, 3)).all()  # the subject is seen by every camera in every frame
    # visible keypoints sit on the body's silhouette (give or take a pixel at the outline)
    c, t, j = np.nonzero(vis == 2)
    px = np.clip(np.rint(uv[c, t, j]).astype(int), 0, 95)
    near = np.zeros(len(c), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= masks[c, t, np.clip(px[:, 1] + dy, 0, 95), np.clip(px[:, 0] + dx, 0, 95)] > 0
    assert near.mean() > 0.99
    assert (vis == 1).any()  # some joints are hidden by the body from some camera


def test_ingest_applies_the_stride_and_keeps_ground_truth(capture, raw):
    with Capture(*capture) as cap:
        assert cap.frame_index.tolist() == [0, 2, 4, 6]
        assert cap.gt("masks").shape == (3, 4, 96, 96)
        with h5py.File(raw / "gt.h5") as f:
            np.testing.assert_array_equal(cap.gt("joints3d/smpl24"), f["joints3d/smpl24"][::2])
            full_mask = f["masks"][1, 4]
        frame = cap.frame(1, 2)
        assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
        assert frame[full_mask > 0].mean() != pytest.approx(frame[full_mask == 0].mean(), abs=2)


def test_qa_capture_passes_on_good_data_and_fails_on_tampered(capture, body, tmp_path):
    report = run([capture], body, tmp_path / "qa.json", tmp_path / "sheet.png")
    assert report["passed"], report
    (checks,) = [r["checks"] for r in report["actions"].values()]
    assert checks["mask_vs_silhouette"]["min_iou"] >= 0.99
    import cv2

    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[1] == 3 * 256 and sheet.shape[0] >= 2 * 256
    # shift one 2D label by a pixel: the reprojection check must notice
    bad = tmp_path / "tampered.h5"
    bad.write_bytes(capture[0].read_bytes())
    with h5py.File(bad, "r+") as f:
        vis = f["gt/visibility/coco17"][()]
        c, t, j = (int(i[0]) for i in np.nonzero(vis > 0))
        f["gt/joints2d/coco17"][c, t, j] += 1.0
        f["gt/smpl/transl"][1, 0] += 0.05
    with Capture(bad, capture[1]) as cap:
        tampered = check_capture(cap, body)
    assert not tampered["checks"]["reprojection_coco17"]["passed"]
    assert tampered["checks"]["mask_vs_silhouette"]["min_iou"] < 0.99
    assert not tampered["passed"]


def test_ingest_reports_broken_raw_captures(raw, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(raw, broken)
    data = (broken / "videos" / "cam01.avi").read_bytes()
    (broken / "videos" / "cam01.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(NtopError, match=r"cam01.avi: field 'frames': only \d of the 8 frames its header declares can be decoded"):
        ingest("synthetic", broken, "demo", "wave", tmp_path / "c.h5", tmp_path / "f.h5")
    from ntop.io import write_video

    write_video(broken / "videos" / "cam01.avi", [np.zeros((8, 8, 3), np.uint8)] * 3)  # whole, but short
    with pytest.raises(NtopError, match=r"cam01.avi: field 'num_frames': has 3 frames, meta.json says 8"):
        ingest("synthetic", broken, "demo", "wave", tmp_path / "c.h5", tmp_path / "f.h5")
    (broken / "videos" / "cam01.avi").unlink()
    with pytest.raises(NtopError, match="cam01.avi: missing camera stream"):
        ingest("synthetic", broken, "demo", "wave", tmp_path / "c.h5", tmp_path / "f.h5")
    (broken / "cameras.json").write_text("[{}]")
    with pytest.raises(NtopError, match=r"cameras.json: camera 0: missing field 'model'"):
        ingest("synthetic", broken, "demo", "wave", tmp_path / "c.h5", tmp_path / "f.h5")
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()
    with pytest.raises(NtopError, match="no frames selected"):
        ingest("synthetic", raw, "demo", "wave", tmp_path / "c.h5", tmp_path / "f.h5", start=50)


def test_synthetic_config_rejects_unknown_keys():
    with pytest.raises(NtopError, match="unknown keys"):
        SyntheticConfig.from_dict({"num_frame": 3})
    with pytest.raises(NtopError, match="'format'"):
        SyntheticConfig.from_dict({"format": "gif"})
