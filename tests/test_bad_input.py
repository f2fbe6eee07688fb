"""The bad-input catalogue: each case through the real command line, as a user meets it.

Every case must end in one line naming the file (and the field where there is one), a non-zero
exit status, no traceback, and nothing at the output path, not even a temporary sibling.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from ntop.datasets.canonical import Capture
from ntop.io import write_image, write_video
from ntop.keypoints.detect import DetectConfig, detect_keypoints

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(body, body_model_path, synthetic_capture) -> Path:
    """A 4-frame, 2-camera capture: raw (as an own-rig tree), canonical, and its 2D keypoints."""
    root = synthetic_capture(num_frames=4, num_cameras=2, width=64, height=64, seed=5)
    detect_keypoints(root / "capture.h5", root / "keypoints2d.h5", DetectConfig(), frames=root / "frames.h5")
    rig = root / "rig"
    shutil.copytree(root / "raw" / "videos", rig / "videos")
    with Capture(root / "capture.h5") as cap:
        cams = cap.cameras
    items = [{"name": c.name, "K": [[c.K[0], 0, c.K[2]], [0, c.K[1], c.K[3]], [0, 0, 1]], "dist": c.dist.tolist(), "R": c.R.tolist(), "T": c.t.tolist()} for c in cams]
    (rig / "cameras.json").write_text(json.dumps(items))
    shutil.copy(body_model_path, root / "body.npz")
    return root


def ntop(*args: str, cwd: Path | None = None, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:  # a disk that fills up: writes past the limit fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ntop.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
                          preexec_fn=limit if file_size_limit else None)  # fmt: skip


def assert_clean_failure(r: subprocess.CompletedProcess, message: str, *outputs: Path) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and message in lines[0], r.stderr
    for out in outputs:
        assert not out.exists(), out
        leftovers = [p.name for p in out.parent.glob(f".{out.name}.*")] if out.parent.exists() else []
        assert not leftovers, leftovers


def rig_copy(data: Path, tmp_path: Path) -> Path:
    rig = tmp_path / "rig"
    shutil.copytree(data / "rig", rig)
    return rig


def ingest_rig(rig: Path, tmp_path: Path, **kw) -> tuple[subprocess.CompletedProcess, Path, Path]:
    cap, frames = tmp_path / "out" / "capture.h5", tmp_path / "out" / "frames.h5"
    r = ntop("ingest", "--source", "rig", "--raw", rig, "--subject", "s", "--action", "walk", "--capture", cap, "--frames", frames, **kw)
    return r, cap, frames


# ---------------------------------------------------------------------------- raw captures


def test_corrupt_video(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    (rig / "videos" / "cam01.avi").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "videos/cam01.avi: cannot open video (corrupt or unsupported codec)", cap, frames)


def test_truncated_video(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    video = rig / "videos" / "cam01.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "videos/cam01.avi: ", cap, frames)
    assert "can be decoded (truncated or damaged)" in r.stderr or "cannot open video" in r.stderr  # which depends on where the cut falls


def test_missing_camera(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    (rig / "videos" / "cam01.avi").unlink()
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "the calibration has camera 'cam01', but", cap, frames)


def test_wrong_frame_count(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    write_video(rig / "videos" / "cam01.avi", [np.zeros((64, 64, 3), np.uint8)] * 3)
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "rig: field 'frames': cameras have different frame counts {'cam00': 4, 'cam01': 3}", cap, frames)


def test_camera_file_missing_a_field(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    items = json.loads((rig / "cameras.json").read_text())
    del items[1]["R"]
    (rig / "cameras.json").write_text(json.dumps(items))
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "cameras.json: field 'R'", cap, frames)


def test_image_folder_with_a_gap(data, tmp_path):
    rig = rig_copy(data, tmp_path)
    (rig / "videos" / "cam01.avi").unlink()
    folder = rig / "images" / "cam01"
    folder.mkdir(parents=True)
    for i in (0, 1, 3):  # frame 2 lost
        write_image(folder / f"{i:06d}.png", np.zeros((64, 64, 3), np.uint8))
    r, cap, frames = ingest_rig(rig, tmp_path)
    assert_clean_failure(r, "cameras have different frame counts {'cam00': 4, 'cam01': 3}", cap, frames)


# ---------------------------------------------------------------------------- stage files and keypoints


def test_nan_keypoints(data, tmp_path):
    bad = tmp_path / "keypoints2d.h5"
    shutil.copy(data / "keypoints2d.h5", bad)
    with h5py.File(bad, "a") as f:
        joints = f["joints"][()]
        joints[1, 2, 5] = np.nan
        f["joints"][...] = joints
    out = tmp_path / "out" / "keypoints3d.h5"
    r = ntop("triangulate", "--keypoints2d", bad, "--out", out)
    assert_clean_failure(r, "keypoints2d.h5: field 'joints': keypoints with confidence > 0 must be finite", out)


def test_truncated_stage_file(data, tmp_path):
    cut = tmp_path / "capture.h5"
    cut.write_bytes((data / "capture.h5").read_bytes()[:5000])
    out = tmp_path / "out" / "views.h5"
    r = ntop("plan-views", "--capture", cut, "--out", out)
    assert_clean_failure(r, "capture.h5: not a readable HDF5 file", out)


def test_stage_file_of_the_wrong_kind(data, tmp_path):
    out = tmp_path / "out" / "views.h5"
    r = ntop("plan-views", "--capture", data / "frames.h5", "--out", out)
    assert_clean_failure(r, "frames.h5: field 'schema': expected a 'capture' stage file, found 'frames'", out)


def test_heldout_camera_not_in_the_capture(data, tmp_path):
    out = tmp_path / "out" / "dataset.h5"
    r = ntop("prepare-nerf", "--subject", "s", "--capture", data / "capture.h5", "--frames", data / "frames.h5", "--masks", tmp_path / "none.h5",
             "--body-model", data / "body.npz", "--params", json.dumps({"heldout_cameras": ["cam99"]}), "--out", out)  # fmt: skip
    assert_clean_failure(r, "capture.h5: field 'nerf.cameras': camera 'cam99' is not in the capture (cam00, cam01)", out)


# ---------------------------------------------------------------------------- body models


def test_body_model_file_missing(data, tmp_path):
    out = tmp_path / "out" / "raw"
    r = ntop("synthesize", "--body-model", tmp_path / "SMPL_NEUTRAL.pkl", "--subject", "s", "--action", "walk", "--out", out)
    assert_clean_failure(r, "SMPL_NEUTRAL.pkl: body model file not found", out)


def test_smplx_file_instead_of_smpl(data, tmp_path):
    arrays = dict(np.load(data / "body.npz"))
    arrays["kintree_table"] = np.zeros((2, 55), np.int64)  # SMPL-X's 55 joints
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **arrays)
    out = tmp_path / "out" / "raw"
    r = ntop("synthesize", "--body-model", tmp_path / "SMPLX_NEUTRAL.npz", "--subject", "s", "--action", "walk", "--out", out)
    assert_clean_failure(r, "SMPLX_NEUTRAL.npz: field 'kintree_table': 55 joints, SMPL has 24", out)


def test_body_model_with_inconsistent_arrays(data, tmp_path):
    arrays = dict(np.load(data / "body.npz"))
    arrays["v_template"] = np.zeros((6890, 3))  # SMPL's vertex count, the rest from another model
    np.savez(tmp_path / "mixed.npz", **arrays)
    out = tmp_path / "out" / "raw"
    r = ntop("synthesize", "--body-model", tmp_path / "mixed.npz", "--subject", "s", "--action", "walk", "--out", out)
    assert_clean_failure(r, "mixed.npz: field 'weights': shape 5678x24, expected 6890x24", out)


def test_pickle_that_is_not_a_model(tmp_path):
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"\x80\x04K\x01.")  # a pickled int
    out = tmp_path / "out" / "raw"
    r = ntop("synthesize", "--body-model", tmp_path / "SMPL_NEUTRAL.pkl", "--subject", "s", "--action", "walk", "--out", out)
    assert_clean_failure(r, "SMPL_NEUTRAL.pkl: expected a dict of arrays, found int", out)


# ---------------------------------------------------------------------------- parameters, devices, disks


def test_parameters_that_are_not_json(data, tmp_path):
    out = tmp_path / "out" / "views.h5"
    r = ntop("plan-views", "--capture", data / "capture.h5", "--params", "{rig: nine}", "--out", out)
    assert_clean_failure(r, "--params is not valid JSON", out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_but_absent(data, tmp_path):
    out = tmp_path / "out" / "model.pt"
    r = ntop("train-nerf", "--dataset", data / "missing.h5", "--out", out, "--workdir", tmp_path / "work", "--params", '{"device": "cuda"}')
    assert_clean_failure(r, "field 'nerf.train.device': CUDA was asked for but no CUDA device is available", out)


def test_output_folder_cannot_be_made(data, tmp_path):
    (tmp_path / "results").write_text("a file where the results folder should be")
    out = tmp_path / "results" / "views" / "views.h5"
    r = ntop("plan-views", "--capture", data / "capture.h5", "--out", out)
    assert_clean_failure(r, f"{tmp_path / 'results'}: is a file, so the output folder cannot be made", out)


def test_disk_full_while_writing(data, tmp_path):
    r, cap, frames = ingest_rig(data / "rig", tmp_path, file_size_limit=20_000)
    assert_clean_failure(r, "writing failed (File too large): the disk is full or a file size limit was reached", cap, frames)


# ---------------------------------------------------------------------------- workflow configuration


def _dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", tmp_path / "bad.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"synthetic": {"num_frames": "many"}}, "field 'synthetic.num_frames': 'many' is not of type 'integer'"),
        ({"subjects": {"S1": {"source": "h36m"}}}, "field 'subjects.S1': 'actions' is a required property"),
        ({"nerf": {"heldout_cameras": "cam03"}}, "field 'nerf.heldout_cameras': 'cam03' is not of type 'array'"),
    ],
    ids=["wrong-type", "key-missing", "list-expected"],
)
def test_config_errors_name_the_field(tmp_path, config, message):
    r = _dry_run(tmp_path, config)
    text = r.stdout + r.stderr  # snakemake logs to either, by version
    assert r.returncode != 0 and "Traceback" not in text
    assert f"config ({tmp_path / 'bad.yaml'}): {message}" in text, text[-2000:]
