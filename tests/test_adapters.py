"""Dataset adapters, each on a small tree the test writes in that dataset's real layout."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from ntop.datasets.canonical import Capture
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.errors import NtopError


@pytest.fixture(scope="module")
def synthetic(body, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    generate(body, "s", "walk", SyntheticConfig(num_frames=4, num_cameras=2, width=64, height=64, seed=4), root / "raw")
    ingest("synthetic", root / "raw", "s", "walk", root / "capture.h5", root / "frames.h5")
    return root


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
    with pytest.raises(NtopError, match="no video or image folder for camera cam01"):
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
