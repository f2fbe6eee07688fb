"""The workflow end to end on a tiny synthetic config: plans, lints, builds the dataset, QA runs, reruns nothing."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_workflow import make_tiny_workflow, snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return make_tiny_workflow(tmp_path_factory.mktemp("wf"))


@pytest.fixture(scope="module")
def built(workdir):
    """The tiny workflow linted and built once: every test that reads its results asks for this, in any order."""
    return snakemake(workdir, "--lint"), snakemake(workdir, "--cores", "2")


def test_tiny_config_builds_and_passes_qa(workdir, built):
    lint, r = built
    assert lint.returncode == 0, lint.stdout[-2000:]
    assert r.returncode == 0, r.stderr[-3000:]
    captures = json.loads((workdir / "results" / "qa" / "capture" / "s1.json").read_text())
    labels = json.loads((workdir / "results" / "qa" / "labels" / "s1.json").read_text())
    assert sorted(captures["actions"]) == sorted(labels["actions"]) == ["squat", "turn"]
    for action in ("turn", "squat"):
        report = captures["actions"][action]
        assert report["passed"] and report["capture"]["frames"] == 3
        assert (workdir / "logs" / "ingest" / "s1" / f"{action}.log").exists()
        assert (workdir / "results" / "benchmarks" / "ingest" / "s1" / f"{action}.tsv").exists()
    for action in ("turn", "squat"):
        checks = labels["actions"][action]["checks"]
        for check in ("keypoints_vs_reference_projection", "visibility_vs_raycast", "cocoeval_self_ap"):
            assert checks[check]["passed"], (action, check, checks[check])
        keypoints = json.loads((workdir / "results" / "qa" / "keypoints" / "s1" / f"{action}.json").read_text())
        assert keypoints["checks"]["triangulation"]["triangulated_pct"] > 80
        masks = json.loads((workdir / "results" / "qa" / "masks" / "s1" / f"{action}.json").read_text())
        assert masks["method"] == "bgsub,smpl_refine" and masks["masks"]["mean_iou"] > 0.8, masks
        assert masks["cross_view"]["supported"] > 0.97 and masks["cross_view"]["frames"] >= 1, masks
        assert (workdir / "results" / "qa" / "masks" / "s1" / f"{action}.png").exists()
        assert (workdir / "results" / "masks" / "s1" / action / "preview.png").exists()
    dataset = workdir / "results" / "dataset"
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["counts"]["train"]["images"] == 2 * 3 * 9  # actions x frames x NToP's nine cameras
    assert len(list((dataset / "images").iterdir())) == 54 and (dataset / "README.md").exists()
    nerf = json.loads((workdir / "results" / "nerf" / "s1" / "eval.json").read_text())
    assert nerf["heldout_cameras"] == ["cam01"] and nerf["frames"] == 3
    assert nerf["mean"]["psnr_box"] > nerf["mean"]["baseline_psnr_box"] + 1, nerf["mean"]  # beats painting the box its mean colour
    assert (workdir / "results" / "nerf" / "s1" / "work" / "train_log.jsonl").exists()
    summary = (workdir / "results" / "qa" / "summary.tsv").read_text()
    assert "labels\ts1/turn\tchecks.keypoints_vs_reference_projection\t" in summary and "nerf\ts1\tmean\tpsnr_full" in summary
    report = snakemake(workdir, "--report", "report.zip")
    assert report.returncode == 0, report.stderr[-2000:]
    names = zipfile.ZipFile(workdir / "report.zip").namelist()
    for item in ("summary.html", "eval.png", "preview.png", "contact_sheet.png"):
        assert any(n.endswith(item) for n in names), (item, names[:20])
    again = snakemake(workdir, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_invalid_config_is_rejected_by_the_schema(workdir):
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    cfg["synthetic"]["num_cameras"] = "four"
    (workdir / "bad.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert r.returncode != 0 and "num_cameras" in r.stderr + r.stdout


def _merge(base, extra):
    for k, v in extra.items():
        base[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def test_monocular_video_runs_end_to_end(tmp_path, body):
    """config/video.yaml on one static camera of a synthetic capture: OpenPose JSON -> monocular fit ->
    masks -> NeRF -> top-view renders and labels that pass the label checks."""
    from ntop.datasets.canonical import Capture
    from ntop.datasets.ingest import ingest
    from ntop.datasets.synthetic.capture import SyntheticConfig, generate
    from ntop.datasets.video import OPENPOSE_TO_COCO17

    generate(body, "mono", "walk", SyntheticConfig(num_frames=8, num_cameras=1, width=96, height=96, seed=3), tmp_path / "raw")
    ingest("synthetic", tmp_path / "raw", "mono", "clip", tmp_path / "truth.h5", tmp_path / "truth_frames.h5")
    data = tmp_path / "data" / "video"
    (data / "mono_openpose").mkdir(parents=True)
    shutil.copy(tmp_path / "raw" / "videos" / "cam00.avi", data / "mono.mp4")
    with Capture(tmp_path / "truth.h5") as cap:
        cam, uv, vis = cap.cameras[0], cap.gt("joints2d/coco17")[0], cap.gt("visibility/coco17")[0]
    noisy = uv + np.random.default_rng(0).normal(0, 1.0, uv.shape)  # a good detector's pixel noise
    for t in range(len(uv)):
        body25 = np.zeros((25, 3))
        body25[OPENPOSE_TO_COCO17[25]] = np.c_[noisy[t], vis[t] * 0.9]
        (data / "mono_openpose" / f"{t:012d}_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": body25.ravel().tolist()}]}))
    centre = -cam.R.T @ cam.t
    wd = tmp_path / "wf"
    wd.mkdir()
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, wd / name)
    cfg = yaml.safe_load((ROOT / "config" / "video.yaml").read_text().replace("/data/", f"{tmp_path}/data/"))
    cfg["subjects"]["mono"] = cfg["subjects"].pop("phone")
    _merge(cfg, {
        "body_model": {"kind": "procedural", "path": None},
        "subjects": {"mono": {"adapter": {"intrinsics": cam.K.tolist(), "distortion": cam.dist.tolist(), "camera_height_m": float(centre[2]),
                                          "pitch_deg": float(np.degrees(np.arcsin(-cam.R[2, 2]))), "hfov_deg": None}}},
        "dataset": {"splits": {"train": ["mono"]}},
        "fit": {"iterations": 150},
        "nerf": {"volume_resolution": 16, "eval": {"frame_stride": 4, "samples": 32},
                 "train": {"iterations": 20, "rays": 256, "samples": 32, "checkpoint_every": 10, "eval_every": 20,
                           "field": {"levels": 6, "log2_table_size": 12, "max_resolution": 64, "width": 32}}},
        "views": {"size": 64, "frame_stride": 2},
        "render": {"samples": 32},
        "qa": {"strict": False},
    })  # fmt: skip
    del cfg["subjects"]["mono"]["adapter"]["hfov_deg"]
    (wd / "mine.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(wd, "--cores", "2", "--configfile", "mine.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    labels = json.loads((wd / "results" / "qa" / "labels" / "mono.json").read_text())["actions"]["clip"]
    for check in ("keypoints_vs_reference_projection", "visibility_vs_raycast", "cocoeval_self_ap"):
        assert labels["checks"][check]["passed"], (check, labels["checks"][check])
    nerf = json.loads((wd / "results" / "nerf" / "mono" / "eval.json").read_text())
    assert nerf["on_training_cameras"] and nerf["evaluated_cameras"] == ["cam00"]
    manifest = json.loads((wd / "results" / "dataset" / "manifest.json").read_text())
    assert manifest["counts"]["train"]["images"] == 4 * 9  # frames / view stride x NToP's nine cameras


def test_provenance_leads_from_an_image_to_the_raw_capture(workdir, built):
    """After the build: the dataset's images and annotation files trace back through every stage."""
    assert built[1].returncode == 0, built[1].stderr[-3000:]
    image = sorted((workdir / "results" / "dataset" / "images").iterdir())[0]
    r = subprocess.run([sys.executable, "-m", "ntop.cli", "provenance", str(image)], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for stage in ("[dataset;", "[fisheye_render;", "[nerf-model;", "[nerf_dataset;", "[views;", "[capture;", "[labels;", "[synthetic_gt;"):
        assert stage in r.stdout, (stage, r.stdout)
    assert "resources/body_model/anny_smpl.npz  (raw input, sha256" in r.stdout
    tree = json.loads(subprocess.run([sys.executable, "-m", "ntop.cli", "provenance", "--json", "results/dataset/annotations/train_coco.json"],
                                     cwd=workdir, capture_output=True, text=True, timeout=120).stdout)  # fmt: skip
    assert [child["path"] for child in tree["inputs"]] == ["results/labels/s1/turn", "results/labels/s1/squat"]
    summary = snakemake(workdir, "--summary")  # (snakemake 9.27's --list-changes params lists every output, changed or not)
    statuses = {line.split("\t")[4] for line in summary.stdout.splitlines()[1:]}
    assert summary.returncode == 0 and statuses == {"ok"}, statuses  # nothing built with other parameters or code
