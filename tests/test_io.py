import json

import h5py
import numpy as np
import pytest

from ntop.cameras import Camera, look_at
from ntop.errors import NtopError
from ntop.io import (
    FrameStore,
    atomic_path,
    create_stage,
    decode_image,
    digest_cache,
    encode_image,
    file_digest,
    open_stage,
    read_cameras,
    read_frames,
    read_provenance,
    read_video,
    require,
    write_cameras,
    write_image_folder,
    write_video,
)


def _frames(n=6, h=48, w=64):
    """Smooth, moving test images (what cameras see; lossy codecs are judged on these)."""
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([(x * 4 + 10 * i) % 256, (y * 5) % 256, ((x + y + 7 * i) * 2) % 256], -1).astype(np.uint8) for i in range(n)]


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    folder = tmp_path / "dir_output"
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("x")
    assert (folder / "a.txt").exists()


def test_atomic_path_clears_what_a_killed_writer_left(tmp_path):
    target = tmp_path / "masks.h5"
    (tmp_path / ".masks.h5.tmp-99999.h5").write_text("half, from a SIGKILLed job")
    (tmp_path / ".masks.h5.tmp-99998").mkdir()
    other = tmp_path / ".other.h5.tmp-99999.h5"
    other.write_text("another output's")
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.h5.tmp-99999.h5", "masks.h5"]


def test_digest_cache_reads_a_file_once_inside_its_block_only(tmp_path):
    import hashlib

    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "a.bin"
    f.write_bytes(b"first")
    with digest_cache():
        whole = file_digest(tmp_path / "d")
        assert file_digest(f) == hashlib.sha256(b"first").hexdigest()
        f.write_bytes(b"later")  # inside the block inputs are taken not to change: the first digest stands
        assert file_digest(f) == hashlib.sha256(b"first").hexdigest() and file_digest(tmp_path / "d") == whole
    assert file_digest(f) == hashlib.sha256(b"later").hexdigest()


def test_stage_file_schema_provenance_and_errors(tmp_path):
    path = tmp_path / "stage.h5"
    inp = tmp_path / "input.txt"
    inp.write_text("raw")
    with create_stage(path, "demo_stage", 2, params={"alpha": 1.5}, inputs=[inp]) as f:
        f.create_dataset("x", data=np.arange(3))
    prov = read_provenance(path)
    assert prov["params"] == {"alpha": 1.5} and prov["stage"] == "demo_stage"
    assert set(prov) >= {"ntop_version", "git_commit", "inputs", "host", "device", "started", "finished", "wall_s"}
    assert len(prov["inputs"][str(inp)]) == 64  # sha256
    with open_stage(path, "demo_stage", min_version=2) as f:
        assert f["x"][()].tolist() == [0, 1, 2]
        with pytest.raises(NtopError, match=r"stage.h5: field '/missing': missing"):
            require(f, "missing")
    with pytest.raises(NtopError, match=r"stage.h5: field 'schema': expected a 'capture' stage file"):
        open_stage(path, "capture")
    with pytest.raises(NtopError, match="schema_version"):
        open_stage(path, "demo_stage", min_version=3)
    (tmp_path / "junk.h5").write_bytes(b"\x00" * 100)
    with pytest.raises(NtopError, match="junk.h5: not a readable HDF5"):
        open_stage(tmp_path / "junk.h5", "capture")
    with pytest.raises(RuntimeError), create_stage(tmp_path / "failed.h5", "demo_stage", 1):
        raise RuntimeError
    assert not (tmp_path / "failed.h5").exists()


def test_cameras_round_trip_through_a_stage_file(tmp_path):
    R, t = look_at(np.array([1.0, 2.0, 3.0]), np.zeros(3))
    cams = [Camera("double_sphere", [200, 210, 100, 90], 200, 180, [-0.1, 0.6], R, t, name="top"),
            Camera("pinhole", [500, 500, 320, 240], 640, 480, [0.1, 0, 0, 0, 0], name="side", fov_deg=90.0)]  # fmt: skip
    with h5py.File(tmp_path / "c.h5", "w") as f:
        write_cameras(f.create_group("cameras"), cams)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        back = read_cameras(f["cameras"])
    assert [c.to_dict() for c in back] == [c.to_dict() for c in cams]


def test_video_and_image_folder_round_trip(tmp_path):
    frames = _frames()
    assert write_video(tmp_path / "v.avi", frames, fps=10) == len(frames)
    got = list(read_video(tmp_path / "v.avi"))
    assert [i for i, _ in got] == list(range(6))
    assert np.abs(got[3][1].astype(int) - frames[3]).mean() < 12  # Motion-JPEG is lossy but close
    picked = [i for i, _ in read_frames(tmp_path / "v.avi", [4, 1])]
    assert picked == [1, 4]
    write_image_folder(tmp_path / "imgs", frames)
    folder = dict(read_frames(tmp_path / "imgs", [2, 5]))
    assert np.array_equal(folder[5], frames[5])  # PNG is lossless
    with pytest.raises(NtopError, match="frame 9 is missing"):
        list(read_video(tmp_path / "v.avi", [9]))
    with pytest.raises(NtopError, match="requested but there are 6 images"):
        list(read_frames(tmp_path / "imgs", [6]))


def test_corrupt_and_truncated_videos_are_reported(tmp_path):
    write_video(tmp_path / "v.avi", _frames(20), fps=10)
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    n = len(list(read_video(tmp_path / "cut.avi")))
    assert n < 20
    with pytest.raises(NtopError, match="cut.avi: field 'frames'"):
        list(read_video(tmp_path / "cut.avi", range(20)))
    (tmp_path / "noise.avi").write_bytes(b"RIFF garbage" * 10)
    with pytest.raises(NtopError, match="noise.avi: cannot open video"):
        list(read_video(tmp_path / "noise.avi"))


def test_frame_store_is_lossless_with_png(tmp_path):
    frames = _frames(3)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        ds = FrameStore(f.create_group("frames")).create("cam0", 3)
        for i, fr in enumerate(frames):
            ds[i] = encode_image(fr)
    with h5py.File(tmp_path / "f.h5", "r") as f:
        store = FrameStore(f["frames"])
        assert np.array_equal(store.read("cam0", 2), frames[2]) and len(store) == 3
        with pytest.raises(NtopError, match="cam9"):
            store.read("cam9", 0)
    assert np.abs(decode_image(encode_image(frames[0], "jpg", 90)).astype(int) - frames[0]).mean() < 15


def test_json_is_written_strictly(tmp_path):
    from ntop.io import write_json

    write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert json.loads((tmp_path / "ok.json").read_text()) == {"a": [1, 2]}
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"a": float("nan")})
    assert not (tmp_path / "nan.json").exists()
