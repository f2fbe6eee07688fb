"""Calibration files of real rigs (Qualisys .qca.txt, Pose2Sim/anipose TOML), written here from known
cameras and read back through the rig adapter."""

import shutil

import cv2
import numpy as np
import pytest

from ntop.cameras import Camera
from ntop.datasets.calibfiles import find_calibration, read_calibration
from ntop.datasets.canonical import Capture
from ntop.datasets.ingest import ingest
from ntop.errors import NtopError

FLIP = np.diag([1.0, -1.0, -1.0])


def _cameras() -> list[Camera]:
    cams = []
    for i, (yaw, centre) in enumerate([(0.3, [0.5, -3.0, 1.6]), (2.0, [2.8, 0.7, 1.7])]):
        R = cv2.Rodrigues(np.array([1.2, 0.1 * i, yaw]))[0]
        cams.append(
            Camera(
                "pinhole",
                [1681.2 + i, 1681.0, 533.0 + 3 * i, 948.1],
                1088,
                1920,
                [-0.046, 0.14, 0.0006, 0.0007, 0.01],
                R,
                -R @ np.array(centre),
                name=f"cam0{i + 1}",
            )
        )
    return cams


def write_qca(cams: list[Camera], path, left: int = 0) -> None:
    """Qualisys' export: K in 1/64 pixel with the principal point in sensor coordinates, the centre in mm,
    the world-to-camera rotation row by row in Qualisys' camera axes."""
    rows = []
    for c in cams:
        M = FLIP @ c.R
        centre = c.center * 1000
        r = " ".join(f'r{i + 1}{j + 1}="{float(M[i, j])!r}"' for i in range(3) for j in range(3))
        k1, k2, p1, p2, k3 = c.dist
        rows.append(f"""<camera active="1" serial="{c.name}" viewrotation="0">
  <fov_video left="{left}" top="0" right="{left + c.width - 1}" bottom="{c.height - 1}"/>
  <transform x="{float(centre[0])!r}" y="{float(centre[1])!r}" z="{float(centre[2])!r}" {r}/>
  <intrinsic focalLengthU="{float(c.K[0] * 64)!r}" focalLengthV="{float(c.K[1] * 64)!r}"
   centerPointU="{float((c.K[2] + left) * 64)!r}" centerPointV="{float(c.K[3] * 64)!r}"
   radialDistortion1="{k1}" radialDistortion2="{k2}" radialDistortion3="{k3}"
   tangentalDistortion1="{p1}" tangentalDistortion2="{p2}"/>
</camera>""")
    path.write_text(
        "<?xml version='1.0' encoding='ASCII'?>\n<calibration><cameras>\n" + "\n".join(rows) + "\n</cameras></calibration>\n"
    )


def write_toml(cams: list[Camera], path) -> None:
    """What Pose2Sim, anipose, FreeMoCap and Caliscope write."""
    out = []
    for i, c in enumerate(cams):
        K = c.K_matrix.tolist()
        out.append(f'[cam_{i + 1:02d}]\nname = "{c.name}"\nsize = [{c.width}.0, {c.height}.0]\nmatrix = {K}\n'
                   f"distortions = {c.dist[:4].tolist()}\nrotation = {cv2.Rodrigues(c.R)[0].ravel().tolist()}\n"
                   f"translation = {c.t.tolist()}\nfisheye = false\n")  # fmt: skip
    out.append("[metadata]\nadjusted = false\nerror = 0.0\n")
    path.write_text("\n".join(out))


def _same(entries, cams, dist_n=5):
    assert [e.name for e in entries] == [c.name for c in cams]
    for e, c in zip(entries, cams):
        assert np.allclose(e.K, c.K_matrix, atol=1e-9) and np.allclose(e.R, c.R, atol=1e-12) and np.allclose(e.T, c.t, atol=1e-9)
        assert np.allclose(e.dist[:dist_n], c.dist[:dist_n]) and e.size == (c.width, c.height)


@pytest.mark.parametrize("left", [0, 64])
def test_qualisys_export_reads_back_as_the_cameras_it_was_written_from(tmp_path, left):
    cams = _cameras()
    write_qca(cams, tmp_path / "Calib.qca.txt", left)
    _same(read_calibration(tmp_path / "Calib.qca.txt"), cams)


def test_pose2sim_toml_reads_back_and_skips_metadata(tmp_path):
    cams = _cameras()
    write_toml(cams, tmp_path / "Calib.toml")
    _same(read_calibration(tmp_path / "Calib.toml"), cams, dist_n=4)


def test_calibration_is_found_in_the_rig_folder_or_named(tmp_path):
    (tmp_path / "calibration").mkdir()
    write_qca(_cameras(), tmp_path / "calibration" / "Calib.qca.txt")
    assert find_calibration(tmp_path).name == "Calib.qca.txt"
    (tmp_path / "Config.toml").write_text("[project]\nframe_rate = 60\n")  # Pose2Sim's settings: not a calibration
    assert find_calibration(tmp_path).name == "Calib.qca.txt"
    write_toml(_cameras(), tmp_path / "other.toml")
    assert find_calibration(tmp_path).name == "other.toml"  # the top level first
    assert find_calibration(tmp_path, "calibration/Calib.qca.txt").suffix == ".txt"
    with pytest.raises(NtopError, match="nope.toml: field 'adapter.calibration': calibration file not found"):
        find_calibration(tmp_path, "nope.toml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NtopError, match="no calibration file"):
        find_calibration(tmp_path / "empty")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda s: s.replace('focalLengthU="', 'focalLengthX="', 1),
            r"Calib.qca.txt: field 'camera cam01/intrinsic.focalLengthU': missing",
        ),
        (lambda s: s.replace('x="', 'x="abc', 1), r"field 'camera cam01/transform.x': not a number"),
        (lambda s: s.replace("r11=", 'r11="2" q11=', 1), r"field 'camera cam01/transform': r11..r33 are not a rotation"),
        (lambda s: s.replace("<fov_video", "<fov_marker", 1), None),  # a camera without video is skipped
        (lambda s: s[:40], "not a Qualisys XML calibration"),
    ],
)
def test_a_malformed_qualisys_file_names_the_camera_and_field(tmp_path, edit, message):
    write_qca(_cameras(), tmp_path / "Calib.qca.txt")
    path = tmp_path / "Calib.qca.txt"
    path.write_text(edit(path.read_text()))
    if message is None:
        assert [e.name for e in read_calibration(path)] == ["cam02"]
        return
    with pytest.raises(NtopError, match=message):
        read_calibration(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("matrix = ", "matrx = ", 1), r"Calib.toml: field 'cam_01.matrix': missing"),
        (lambda s: s.replace("rotation = [", "rotation = [1.0, ", 1), r"field 'cam_01.rotation': has 4 values, expected 3"),
        (lambda s: s.replace("translation = [", 'translation = ["a", ', 1), r"field 'cam_01.translation': not a list of numbers"),
        (lambda s: s.replace("[cam_01]", "[cam_01", 1), "not valid TOML"),
    ],
)
def test_a_malformed_toml_names_the_table_and_key(tmp_path, edit, message):
    write_toml(_cameras(), tmp_path / "Calib.toml")
    path = tmp_path / "Calib.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(NtopError, match=message):
        read_calibration(path)


def _rig_with_videos(tmp_path, cams, sizes):
    raw = tmp_path / "rig"
    (raw / "videos").mkdir(parents=True)
    for c, (w, h) in zip(cams, sizes):
        writer = cv2.VideoWriter(str(raw / "videos" / f"{c.name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 60, (w, h))
        for k in range(3):
            writer.write(np.full((h, w, 3), 40 * k, np.uint8))
        writer.release()
    return raw


def test_a_qualisys_rig_ingests_portrait_videos_of_slightly_different_sizes_and_scaled(tmp_path):
    cams = [c.scaled(0.25) for c in _cameras()]  # 272 x 480 portrait
    raw = _rig_with_videos(tmp_path, cams, [(270, 480), (272, 480)])  # the first a little narrower, as on Pose2Sim's trial
    write_qca(cams, raw / "Calib.qca.txt")
    summary = ingest("rig", raw, "s", "a", tmp_path / "c.h5", tmp_path / "f.h5", scale=0.5)
    assert summary["cameras"] == ["cam01", "cam02"] and summary["frames"] == 3
    with Capture(tmp_path / "c.h5", tmp_path / "f.h5") as cap:
        assert [(c.width, c.height) for c in cap.cameras] == [(135, 240), (136, 240)]
        assert cap.frame(0, 2).shape == (240, 135, 3)
        want = cams[1].scaled(0.5)
        assert np.allclose(cap.cameras[1].K, want.K) and np.allclose(cap.cameras[1].R, cams[1].R, atol=1e-12)
    shutil.rmtree(raw)
    raw = _rig_with_videos(tmp_path, cams, [(272, 480), (272, 480)])
    write_qca(_cameras(), raw / "Calib.qca.txt")  # calibrated at 1088 x 1920, filmed at a quarter of that
    ingest("rig", raw, "s", "a", tmp_path / "c.h5", tmp_path / "f.h5")
    with Capture(tmp_path / "c.h5") as cap:
        assert np.allclose(cap.cameras[1].K, cams[1].K) and (cap.cameras[1].width, cap.cameras[1].height) == (272, 480)


def test_a_calibrated_camera_without_a_video_or_of_another_size_is_one_clear_error(tmp_path):
    cams = [c.scaled(0.25) for c in _cameras()]
    raw = _rig_with_videos(tmp_path, cams[:1], [(272, 480)])
    write_qca(cams, raw / "Calib.qca.txt")
    with pytest.raises(
        NtopError, match=r"Calib.qca.txt: field 'cam02': the calibration has camera 'cam02', but .* has no videos/cam02"
    ):
        ingest("rig", raw, "s", "a", tmp_path / "c.h5", tmp_path / "f.h5")
    shutil.rmtree(raw / "videos")
    raw = _rig_with_videos(tmp_path, cams, [(272, 480), (200, 480)])
    with pytest.raises(NtopError, match=r"frames are 200x480, the calibration says 272x480 for camera cam02"):
        ingest("rig", raw, "s", "a", tmp_path / "c.h5", tmp_path / "f.h5")
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "f.h5").exists()


def test_a_rig_whose_videos_show_no_person_stops_at_the_detector_with_one_message(tmp_path):
    from ntop.keypoints.detect import DetectConfig, detect_keypoints

    cams = [c.scaled(0.25) for c in _cameras()]
    raw = _rig_with_videos(tmp_path, cams, [(272, 480), (272, 480)])  # grey frames, nobody
    write_qca(cams, raw / "Calib.qca.txt")
    ingest("rig", raw, "s", "a", tmp_path / "c.h5", tmp_path / "f.h5")
    with pytest.raises(
        NtopError, match=r"f.h5: field 'frames': BlazePose found no person in any of the 3 frames of 2 camera\(s\)"
    ):
        detect_keypoints(
            tmp_path / "c.h5", tmp_path / "k.h5", DetectConfig.from_dict({"backend": "blazepose"}), frames=tmp_path / "f.h5"
        )
    assert not (tmp_path / "k.h5").exists()
