"""Dataset adapters, each on a small tree the test writes in that dataset's real layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from ntop.datasets.canonical import Capture
from ntop.datasets.ingest import ingest
from ntop.errors import NtopError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic(synthetic_capture):
    return synthetic_capture(num_frames=4, num_cameras=2, width=64, height=64, seed=4)


def _easymocap_yaml(cams, folder, rodrigues=True):
    fi = cv2.FileStorage(str(folder / "intri.yml"), cv2.FILE_STORAGE_WRITE)
    fe = cv2.FileStorage(str(folder / "extri.yml"), cv2.FILE_STORAGE_WRITE)
    fi.write("names", [c.name for c in cams])
    fe.write("names", [c.name for c in cams])
    for c in cams:
        fi.write(f"K_{c.name}", np.array([[c.K[0], 0, c.K[2]], [0, c.K[1], c.K[3]], [0, 0, 1]]))
        fi.write(f"dist_{c.name}", c.dist.reshape(1, -1))
        if rodrigues:
            fe.write(f"R_{c.name}", cv2.Rodrigues(c.R)[0])
        else:
            fe.write(f"Rot_{c.name}", c.R)
        fe.write(f"T_{c.name}", c.t.reshape(3, 1))
    fi.release()
    fe.release()


def _rig_tree(synthetic, tmp_path, cameras="yaml"):
    raw = tmp_path / "rig"
    shutil.copytree(synthetic / "raw" / "videos", raw / "videos")
    with Capture(synthetic / "capture.h5") as cap:
        cams = cap.cameras
    if cameras == "json":
        items = [{"name": c.name, "K": [[c.K[0], 0, c.K[2]], [0, c.K[1], c.K[3]], [0, 0, 1]], "dist": c.dist.tolist(), "R": c.R.tolist(), "T": c.t.tolist()} for c in cams]
        (raw / "cameras.json").write_text(json.dumps(items))
    else:
        _easymocap_yaml(cams, raw, rodrigues=cameras == "yaml")
    return raw, cams


@pytest.mark.parametrize("cameras", ["yaml", "yaml_rot", "json"])
def test_rig_adapter_reads_opencv_cameras_and_videos(synthetic, tmp_path, cameras):
    raw, cams = _rig_tree(synthetic, tmp_path, cameras)
    summary = ingest("rig", raw, "s", "walk", tmp_path / "capture.h5", tmp_path / "frames.h5")
    assert summary == {"frames": 4, "cameras": ["cam00", "cam01"]}
    with Capture(tmp_path / "capture.h5", tmp_path / "frames.h5") as got, Capture(synthetic / "capture.h5", synthetic / "frames.h5") as want:
        for a, b in zip(got.cameras, want.cameras):
            assert np.allclose(a.K, b.K) and np.allclose(a.R, b.R, atol=1e-9) and np.allclose(a.t, b.t) and np.allclose(a.dist, b.dist)
            assert (a.width, a.height) == (b.width, b.height)
        assert np.array_equal(got.frame(1, 3), want.frame(1, 3)) and not got.has_gt
        assert got.fps == 25.0


def test_rig_adapter_names_the_missing_file_or_key(synthetic, tmp_path):
    raw, _ = _rig_tree(synthetic, tmp_path)
    (raw / "videos" / "cam01.avi").rename(raw / "cam01.avi")
    with pytest.raises(NtopError, match="has camera 'cam01', but .* has no videos/cam01"):
        ingest("rig", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5")
    (raw / "cam01.avi").rename(raw / "videos" / "cam01.avi")
    text = (raw / "extri.yml").read_text().replace("T_cam01", "X_cam01")
    (raw / "extri.yml").write_text(text)
    with pytest.raises(NtopError, match="extri.yml: field 'T_cam01': missing"):
        ingest("rig", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5")
    (raw / "cameras.json").write_text(json.dumps([{"name": "cam00", "K": [1, 2, 3]}]))
    with pytest.raises(NtopError, match="cameras.json: field 'R'"):
        ingest("rig", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5")
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def test_time_offsets_shift_each_camera_and_keep_the_frames_all_have(synthetic, tmp_path):
    raw, _ = _rig_tree(synthetic, tmp_path)
    summary = ingest("rig", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5", time_offsets={"cam01": 1})
    assert summary["frames"] == 3
    with Capture(tmp_path / "c.h5", tmp_path / "f.h5") as got, Capture(synthetic / "capture.h5", synthetic / "frames.h5") as want:
        for t in range(3):
            assert np.array_equal(got.frame(0, t), want.frame(0, t)) and np.array_equal(got.frame(1, t), want.frame(1, t + 1))
        assert got.h5.attrs["time_offset_cam01"] == 1 and got.h5.attrs["time_offset_cam00"] == 0


@pytest.mark.parametrize(
    "source, offsets, error",
    [
        ("rig", {"cam07": 2}, "camera cam07 is not in the capture"),
        ("rig", {"cam01": 4}, "offsets .* leave no frame"),
        ("rig", {"cam01": 1.5}, "offsets are whole frames"),
        ("synthetic", {"cam01": 1}, "cannot shift cameras of a capture with per-frame labels"),
    ],
)
def test_time_offsets_that_cannot_apply_are_named(synthetic, tmp_path, source, offsets, error):
    raw = _rig_tree(synthetic, tmp_path)[0] if source == "rig" else synthetic / "raw"
    with pytest.raises(NtopError, match=f"field 'time_offsets': {error}"):
        ingest(source, raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5", time_offsets=offsets)
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def _gt_smpl(synthetic):
    with Capture(synthetic / "capture.h5") as cap:
        return {k: cap.gt(f"smpl/{k}") for k in ("global_orient", "body_pose", "transl", "betas")}


def _posed(body, smpl):
    t = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in smpl.items()}
    with torch.no_grad():
        return body(t["global_orient"], t["body_pose"], t["betas"], t["transl"]).vertices.numpy()


def _zju_tree(synthetic, body, tmp_path, numbered_like_313=False):
    """Neural Body's layout: annots.npy (T in mm), Camera folders of jpgs, mask/ pngs, new_params/ in Rh/Th."""
    from scipy.spatial.transform import Rotation

    raw = tmp_path / "CoreView_313"
    smpl = _gt_smpl(synthetic)
    J0 = body.shaped(torch.as_tensor(smpl["betas"], dtype=torch.float32).reshape(1, -1))[1][0, 0].numpy()
    with Capture(synthetic / "capture.h5", synthetic / "frames.h5") as cap:
        cams, masks = cap.cameras, cap.gt("masks")
        folders = [f"Camera ({c + 1})" if numbered_like_313 else f"Camera_B{c + 1}" for c in range(len(cams))]
        ims = []
        for t in range(len(cap.frame_index)):
            names = [f"CoreView_313_Camera_({c + 1})_{t + 1:04d}_2019-08-23.jpg" if numbered_like_313 else f"{t:06d}.jpg" for c in range(len(cams))]
            ims.append({"ims": [f"{d}/{n}" for d, n in zip(folders, names)]})
            for c in range(len(cams)):
                (raw / folders[c]).mkdir(parents=True, exist_ok=True)
                (raw / "mask" / folders[c]).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(raw / ims[t]["ims"][c]), cv2.cvtColor(cap.frame(c, t), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
                cv2.imwrite(str(raw / "mask" / ims[t]["ims"][c].replace(".jpg", ".png")), masks[c, t] * 255)
            n = t + 1 if numbered_like_313 else t
            (raw / "new_params").mkdir(exist_ok=True)
            Rh = smpl["global_orient"][t]
            Th = smpl["transl"][t] + J0 - Rotation.from_rotvec(Rh).apply(J0)
            poses = np.concatenate([np.zeros(3), smpl["body_pose"][t].reshape(-1)])
            np.save(raw / "new_params" / f"{n}.npy", {"Rh": Rh[None], "Th": Th[None], "poses": poses[None], "shapes": smpl["betas"][None]})
    K = [np.array([[c.K[0], 0, c.K[2]], [0, c.K[1], c.K[3]], [0, 0, 1]]) for c in cams]
    cams_d = {"K": K, "D": [c.dist.reshape(5, 1) for c in cams], "R": [c.R for c in cams], "T": [c.t.reshape(3, 1) * 1000 for c in cams]}
    np.save(raw / "annots.npy", {"cams": cams_d, "ims": ims})
    return raw, cams, masks, smpl


@pytest.mark.parametrize("numbered_like_313", [False, True])
def test_zju_mocap_adapter_converts_cameras_masks_and_easymocap_smpl(synthetic, body, tmp_path, numbered_like_313):
    from ntop.body.params import read_smpl
    from ntop.datasets.canonical import AdapterContext

    raw, cams, masks, smpl = _zju_tree(synthetic, body, tmp_path, numbered_like_313)
    out = tmp_path / "out"
    ingest("zju_mocap", raw, "s", "walk", out / "capture.h5", out / "frames.h5", context=AdapterContext({"fps": 30}, body))
    with Capture(out / "capture.h5", out / "frames.h5") as got:
        assert [c.name for c in got.cameras] == (["Camera_1", "Camera_2"] if numbered_like_313 else ["Camera_B1", "Camera_B2"])
        for a, b in zip(got.cameras, cams):
            assert np.allclose(a.K, b.K) and np.allclose(a.R, b.R) and np.allclose(a.t, b.t, atol=1e-9) and np.allclose(a.dist, b.dist)
        assert np.array_equal(got.h5["masks/" + got.cameras[1].name][()], masks[1])
        assert got.fps == 30 and not got.has_gt
    seq = read_smpl(out / "capture.h5")
    assert np.abs(_posed(body, seq.params()) - _posed(body, smpl)).max() < 1e-4  # metres: the same bodies
    with Capture(synthetic / "capture.h5") as cap:
        assert np.abs(seq.pelvis - cap.gt("joints3d/smpl24")[:, 0]).max() < 1e-4


def test_zju_mocap_adapter_names_the_missing_file_or_key(synthetic, body, tmp_path):
    from ntop.datasets.canonical import AdapterContext

    raw, *_ = _zju_tree(synthetic, body, tmp_path)
    ctx = AdapterContext({}, body)
    with pytest.raises(NtopError, match="needs the body model"):
        ingest("zju_mocap", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5")
    (raw / "new_params" / "2.npy").unlink()
    with pytest.raises(NtopError, match=r"new_params/2.npy: missing"):
        ingest("zju_mocap", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5", context=ctx)
    annots = np.load(raw / "annots.npy", allow_pickle=True).item()
    del annots["cams"]["T"]
    np.save(raw / "annots.npy", annots)
    with pytest.raises(NtopError, match=r"annots.npy: field 'cams/T'"):
        ingest("zju_mocap", raw, "s", "walk", tmp_path / "c.h5", tmp_path / "f.h5", context=ctx)
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def _h36m_tree(synthetic, tmp_path, poses_frames=4):
    """The release's layout: S1/Videos/<Action>.<camera id>.mp4, D3_Positions .cdf, 3d-pose-baseline's cameras.h5."""
    import h5py
    from cdflib.cdfwrite import CDF

    root = tmp_path / "h36m"
    (root / "S1" / "Videos").mkdir(parents=True)
    ids = ["54138969", "55011271"]
    with Capture(synthetic / "capture.h5", synthetic / "frames.h5") as cap, h5py.File(root / "cameras.h5", "w") as f:
        cams = cap.cameras
        for c, (cam, cid) in enumerate(zip(cams, ids)):
            g = f.create_group(f"subject1/camera{c + 1}")
            g["R"], g["T"] = cam.R.T, (-cam.R.T @ cam.t * 1000).reshape(3, 1)
            g["f"], g["c"] = cam.K[:2].reshape(2, 1), cam.K[2:].reshape(2, 1)
            g["k"], g["p"] = cam.dist[[0, 1, 4]].reshape(3, 1), np.zeros((2, 1))
            g["Name"] = np.array([ord(ch) for ch in cid], dtype=np.uint8)
            writer = cv2.VideoWriter(str(root / "S1" / "Videos" / f"Walking 1.{cid}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 50, (cam.width, cam.height))
            for t in range(len(cap.frame_index)):
                writer.write(cv2.cvtColor(cap.frame(c, t), cv2.COLOR_RGB2BGR))
            writer.release()
    poses = np.random.default_rng(0).uniform(-1000, 1000, (1, poses_frames, 96))
    (root / "S1" / "MyPoseFeatures" / "D3_Positions").mkdir(parents=True)
    cdf = CDF(str(root / "S1" / "MyPoseFeatures" / "D3_Positions" / "Walking 1.cdf"))
    cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_DOUBLE, "Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": [poses_frames, 96]}, var_attrs={}, var_data=poses)
    cdf.close()
    return root, cams, ids, poses


def test_h36m_adapter_reads_videos_cameras_h5_and_d3_positions(synthetic, tmp_path):
    root, cams, ids, poses = _h36m_tree(synthetic, tmp_path, poses_frames=3)
    summary = ingest("h36m", root / "S1", "S1", "Walking_1", tmp_path / "capture.h5", tmp_path / "frames.h5")
    assert summary["frames"] == 3 and summary["cameras"] == ids  # the poses are one frame short: the shorter wins
    with Capture(tmp_path / "capture.h5", tmp_path / "frames.h5") as got:
        for a, b in zip(got.cameras, cams):
            assert np.allclose(a.K, b.K) and np.allclose(a.R, b.R) and np.allclose(a.t, b.t)
            assert np.allclose(a.dist[[0, 1, 4]], b.dist[[0, 1, 4]], atol=1e-9) and np.allclose(a.dist[2:4], 0, atol=1e-9)
        assert np.allclose(got.h5["poses3d/h36m32"][()], poses.reshape(3, 32, 3) / 1000)
        assert got.fps == 50 and got.h5.attrs["distortion_fit_px"] < 1e-6
        assert np.abs(got.frame(0, 2).astype(int) - _decoded(root, ids[0], 2)).max() == 0


def _decoded(root, cid, t):
    from ntop.io import read_frames

    return dict(read_frames(root / "S1" / "Videos" / f"Walking 1.{cid}.mp4", [t]))[t].astype(int)


def test_h36m_distortion_becomes_opencv_within_a_pixel():
    """Typical H3.6M coefficients: OpenCV's closest model reprojects within half a pixel everywhere."""
    from ntop.datasets.h36m import h36m_distort, opencv_distortion

    f, c = np.array([1145.0, 1144.0]), np.array([512.5, 515.5])
    k, p = np.array([-0.207, 0.248, -0.0031]), np.array([-0.0014, -0.00098])
    dist, worst = opencv_distortion(f, c, k, p, (1000, 1002))
    xy = np.random.default_rng(1).uniform(-0.43, 0.43, (500, 2))
    ours = cv2.projectPoints(np.c_[xy, np.ones(500)], np.zeros(3), np.zeros(3), np.array([[f[0], 0, c[0]], [0, f[1], c[1]], [0, 0, 1]]), dist)[0][:, 0]
    theirs = h36m_distort(xy, k, p) * f + c
    assert np.abs(ours - theirs).max() < 0.5 and 0 < worst < 0.5


def test_h36m_adapter_names_the_missing_file_or_key(synthetic, tmp_path):
    import h5py

    root, *_ = _h36m_tree(synthetic, tmp_path)
    with pytest.raises(NtopError, match="no video of action 'Walking_2' for camera 54138969"):
        ingest("h36m", root / "S1", "S1", "Walking_2", tmp_path / "c.h5", tmp_path / "f.h5")
    with pytest.raises(NtopError, match="cameras.h5: field 'subject9'"):
        ingest("h36m", root / "S1", "S9", "Walking_1", tmp_path / "c.h5", tmp_path / "f.h5")
    with h5py.File(root / "cameras.h5", "a") as f:
        del f["subject1/camera2/p"]
    with pytest.raises(NtopError, match="field 'subject1/camera2/p'"):
        ingest("h36m", root / "S1", "S1", "Walking_1", tmp_path / "c.h5", tmp_path / "f.h5")
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def _genebody_tree(synthetic, body, tmp_path, scale=1.08):
    """GeneBody's layout: annots.npy (K, D, c2w per view), image/<view>/, mask/<view>/mask<frame>.png, param/ SMPL-X."""
    raw = tmp_path / "genebody" / "amanda"
    smpl = _gt_smpl(synthetic)
    with Capture(synthetic / "capture.h5", synthetic / "frames.h5") as cap:
        cams, masks, joints = cap.cameras, cap.gt("masks"), cap.gt("joints3d/smpl24")
        views = [f"{c * 12 + 1:02d}" for c in range(len(cams))]
        for c, v in enumerate(views):
            (raw / "image" / v).mkdir(parents=True)
            (raw / "mask" / v).mkdir(parents=True)
            for t in range(len(cap.frame_index)):
                cv2.imwrite(str(raw / "image" / v / f"{t:04d}.jpg"), cv2.cvtColor(cap.frame(c, t), cv2.COLOR_RGB2BGR))
                cv2.imwrite(str(raw / "mask" / v / f"mask{t:04d}.png"), masks[c, t] * 255)
    (raw / "param").mkdir()
    for t in range(len(joints)):
        smplx = {"global_orient": smpl["global_orient"][t][None], "body_pose": smpl["body_pose"][t].reshape(-1)[None, :63],
                 "betas": np.zeros((1, 10)), "transl": np.zeros((1, 3)), "keypoints3d": np.concatenate([joints[t, :22], np.zeros((33, 3))])[None] / scale}  # fmt: skip
        np.save(raw / "param" / f"{t:04d}.npy", {"smplx": smplx, "smplx_scale": scale})
    c2w = {v: np.linalg.inv(np.block([[c.R, c.t[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])) for v, c in zip(views, cams)}
    np.save(raw / "annots.npy", {"cams": {v: {"K": np.array([[c.K[0], 0, c.K[2]], [0, c.K[1], c.K[3]], [0, 0, 1]]), "D": c.dist, "c2w": c2w[v]} for v, c in zip(views, cams)}})
    return raw, cams, masks, joints


def test_genebody_adapter_converts_smplx_to_smpl_and_keeps_masks(synthetic, body, tmp_path):
    from ntop.body.params import read_smpl
    from ntop.datasets.canonical import AdapterContext

    raw, cams, masks, joints = _genebody_tree(synthetic, body, tmp_path)
    summary = ingest("genebody", raw, "amanda", "all", tmp_path / "capture.h5", tmp_path / "frames.h5", context=AdapterContext({}, body))
    assert summary["cameras"] == ["01", "13"] and summary["smplx_joint_error_m"] < 0.01
    with Capture(tmp_path / "capture.h5", tmp_path / "frames.h5") as got:
        for a, b in zip(got.cameras, cams):
            assert np.allclose(a.K, b.K) and np.allclose(a.R, b.R) and np.allclose(a.t, b.t)
        assert np.array_equal(got.h5["masks/13"][()], masks[1]) and got.fps == 15
    seq = read_smpl(tmp_path / "capture.h5")
    fitted = body.joints_only(*(torch.as_tensor(seq.params()[k], dtype=torch.float32) for k in ("global_orient", "body_pose", "betas", "transl")))
    assert np.abs(fitted[:, :22].detach().numpy() - joints[:, :22]).max() < 0.03  # metres, joints from SMPL-X joints alone
    assert np.abs(seq.pelvis - joints[:, 0]).max() < 0.01


def test_genebody_adapter_names_the_missing_file_or_key(synthetic, body, tmp_path):
    from ntop.datasets.canonical import AdapterContext

    raw, *_ = _genebody_tree(synthetic, body, tmp_path)
    ctx = AdapterContext({}, body)
    (raw / "mask" / "13" / "mask0002.png").unlink()
    with pytest.raises(NtopError, match=r"mask/13/mask0002.png: missing"):
        ingest("genebody", raw, "a", "all", tmp_path / "c.h5", tmp_path / "f.h5", context=ctx)
    p = np.load(raw / "param" / "0001.npy", allow_pickle=True).item()
    del p["smplx"]["keypoints3d"]
    np.save(raw / "param" / "0001.npy", p)
    with pytest.raises(NtopError, match=r"0001.npy: field 'smplx/keypoints3d'"):
        ingest("genebody", raw, "a", "all", tmp_path / "c.h5", tmp_path / "f.h5", context=ctx)
    with pytest.raises(NtopError, match=r"annots.npy: field 'cams/99'"):
        ingest("genebody", raw, "a", "all", tmp_path / "c.h5", tmp_path / "f.h5", context=AdapterContext({"cameras": ["99"], "smpl": "none"}, body))
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def _video_tree(synthetic, tmp_path):
    """One camera of the synthetic capture as a video, with OpenPose BODY_25 JSON per frame."""
    from ntop.datasets.video import OPENPOSE_TO_COCO17

    raw = tmp_path / "video"
    (raw / "phone_openpose").mkdir(parents=True)
    shutil.copy(synthetic / "raw" / "videos" / "cam00.avi", raw / "phone.mp4")
    with Capture(synthetic / "capture.h5") as cap:
        uv, vis, cam = cap.gt("joints2d/coco17")[0], cap.gt("visibility/coco17")[0], cap.cameras[0]
    for t in range(len(uv)):
        body25 = np.zeros((25, 3))
        body25[OPENPOSE_TO_COCO17[25]] = np.c_[uv[t], vis[t] * 0.9]
        (raw / "phone_openpose" / f"{t:012d}_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": body25.ravel().tolist()}]}))
    return raw, cam, uv, vis


def test_video_adapter_reads_one_camera_and_openpose_keypoints(synthetic, tmp_path):
    from ntop.datasets.canonical import AdapterContext
    from ntop.keypoints.detect import DetectConfig, detect_keypoints

    raw, cam, uv, vis = _video_tree(synthetic, tmp_path)
    K = [float(v) for v in cam.K]
    ctx = AdapterContext({"intrinsics": K, "distortion": cam.dist.tolist(), "keypoints": str(raw / "phone_openpose")})
    assert ingest("video", raw / "phone.mp4", "phone", "clip", tmp_path / "c.h5", tmp_path / "f.h5", context=ctx)["cameras"] == ["cam00"]
    with Capture(tmp_path / "c.h5") as got:
        c = got.cameras[0]
        assert np.allclose(c.K, cam.K) and np.allclose(c.R[2], [0, 1, 0]) and np.allclose(-c.R.T @ c.t, [0, 0, 1.5])  # level, 1.5 m up
    detect_keypoints(tmp_path / "c.h5", tmp_path / "k.h5", DetectConfig(backend="dataset"))
    import h5py

    with h5py.File(tmp_path / "k.h5") as f:
        assert np.allclose(f["joints"][0][vis > 0], uv[vis > 0]) and np.allclose(f["confidence"][0], vis * 0.9)
    fov = AdapterContext({"hfov_deg": 90})
    ingest("video", raw / "phone.mp4", "phone", "clip", tmp_path / "c2.h5", tmp_path / "f2.h5", context=fov)
    with Capture(tmp_path / "c2.h5") as got:
        assert np.isclose(got.cameras[0].K[0], cam.width / 2) and np.isclose(got.cameras[0].K[2], cam.width / 2)
    with pytest.raises(NtopError, match="has 3 JSON files, the video has 4 frames"):
        (raw / "phone_openpose" / f"{3:012d}_keypoints.json").unlink()
        ingest("video", raw / "phone.mp4", "phone", "clip", tmp_path / "c3.h5", tmp_path / "f3.h5", context=ctx)


def _example_tree(name, synthetic, body, tmp_path):
    """The example config's raw paths, filled with a tree in that dataset's layout; returns the config."""
    cfg = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text().replace("/data/", f"{tmp_path}/data/").replace("/models/", f"{tmp_path}/models/"))
    for model in (cfg["body_model"]["path"], cfg.get("keypoints", {}).get("onnx", {}).get("model")):
        if model:
            Path(model).parent.mkdir(parents=True, exist_ok=True)
            Path(model).write_bytes(b"")  # planning only needs the file to exist
    build = {"h36m": lambda: _h36m_tree(synthetic, tmp_path / "t")[0] / "S1", "zju_mocap": lambda: _zju_tree(synthetic, body, tmp_path / "t")[0],
             "genebody": lambda: _genebody_tree(synthetic, body, tmp_path / "t")[0], "rig": lambda: _rig_tree(synthetic, tmp_path / "t")[0],
             "video": lambda: _video_tree(synthetic, tmp_path / "t")[0]}  # fmt: skip
    (tmp_path / "t").mkdir()
    tree = build[name]()
    for subject, entry in cfg["subjects"].items():
        for action in entry["actions"]:
            dest = Path(entry["raw"].format(subject=subject, action=action))
            if name == "video":
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(tree / "phone.mp4", dest)
                shutil.copytree(tree / "phone_openpose", dest.parent / f"{subject}_openpose", dirs_exist_ok=True)
            elif not dest.exists():
                shutil.copytree(tree, dest)
    if name == "h36m":
        shutil.copy(tree.parent / "cameras.h5", Path(cfg["subjects"]["S1"]["adapter"]["cameras"]))
    return cfg


@pytest.mark.parametrize("name", ["h36m", "zju_mocap", "genebody", "rig", "video"])
def test_example_config_ingests_and_plans_on_a_tree_in_the_real_layout(name, synthetic, body, tmp_path):
    from ntop.datasets.canonical import AdapterContext

    cfg = _example_tree(name, synthetic, body, tmp_path)
    subject, entry = next(iter(cfg["subjects"].items()))
    action = next(a for a in entry["actions"] if a != "Directions_1")  # the H3.6M tree holds Walking 1
    settings = {k: v.format(subject=subject, action=action) if isinstance(v, str) else v for k, v in entry.get("adapter", {}).items()}
    ingest(entry["source"], entry["raw"].format(subject=subject, action=action), subject, action, tmp_path / "c.h5", tmp_path / "f.h5",
           context=AdapterContext(settings, body))  # fmt: skip
    wd = tmp_path / "wf"
    wd.mkdir()
    for part in ("Snakefile", "rules", "workflow", "config", "envs"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy)(ROOT / part, wd / part)
    (wd / "mine.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "mine.yaml"], cwd=wd, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    for rule in ("ingest", "segment", "train_nerf", "render", "annotate", "assemble_dataset", "qa_labels"):
        assert rule in out, rule
    assert "demo" not in out  # the dataset config's subjects replace the demo's
