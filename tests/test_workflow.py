"""The workflow end to end on a tiny synthetic config: plans, lints, builds the dataset, QA runs, reruns nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _snakemake(workdir, *args, timeout=600):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf")
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, wd / name)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["subjects"] = {"s1": {"source": "synthetic", "actions": ["turn", "squat"], "synthetic": {"seed": 2}}}
    cfg["synthetic"].update(num_frames=6, num_cameras=2, width=80, height=80)
    cfg["ingest"]["stride"] = 2
    cfg["nerf"].update(heldout_cameras=["cam01"], volume_resolution=16, eval={"frame_stride": 2, "samples": 32})
    cfg["nerf"]["train"] = {"iterations": 20, "rays": 256, "samples": 32, "checkpoint_every": 10, "eval_every": 20,
                            "field": {"levels": 6, "log2_table_size": 12, "max_resolution": 64, "width": 32}}  # fmt: skip
    cfg["views"].update(size=64, frame_stride=1)
    cfg["render"]["samples"] = 32
    cfg["triangulation"].update(median_window=3, smooth_window=0)  # three frames
    cfg["calibration"]["check"] = False  # two cameras and three frames are no calibration target
    cfg["dataset"]["splits"] = {"train": ["s1"]}
    cfg["qa"]["strict"] = False  # a 20-step NeRF cannot match silhouettes; the checks are still reported
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))  # replaces the demo (--configfile would merge into it)
    return wd


def test_tiny_config_builds_and_passes_qa(workdir):
    assert _snakemake(workdir, "--lint").returncode == 0
    r = _snakemake(workdir, "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    for action in ("turn", "squat"):
        report = json.loads((workdir / "results" / "qa" / "capture" / "s1" / f"{action}.json").read_text())
        assert report["passed"] and report["capture"]["frames"] == 3
        assert (workdir / "logs" / "ingest" / "s1" / f"{action}.log").exists()
        assert (workdir / "results" / "benchmarks" / "ingest" / "s1" / f"{action}.tsv").exists()
    for action in ("turn", "squat"):
        labels = json.loads((workdir / "results" / "qa" / "labels" / "s1" / f"{action}.json").read_text())
        for check in ("keypoints_vs_cv2_fisheye", "visibility_vs_raycast", "cocoeval_self_ap"):
            assert labels["checks"][check]["passed"], (action, check, labels["checks"][check])
        keypoints = json.loads((workdir / "results" / "qa" / "keypoints" / "s1" / f"{action}.json").read_text())
        assert keypoints["checks"]["triangulation"]["triangulated_pct"] > 80
        masks = json.loads((workdir / "results" / "qa" / "masks" / "s1" / f"{action}.json").read_text())
        assert masks["method"] == "bgsub,smpl_refine" and masks["masks"]["mean_iou"] > 0.8, masks
        assert (workdir / "results" / "masks" / "s1" / action / "preview.png").exists()
    dataset = workdir / "results" / "dataset"
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["counts"]["train"]["images"] == 2 * 3 * 9  # actions x frames x NToP's nine cameras
    assert len(list((dataset / "images").iterdir())) == 54 and (dataset / "README.md").exists()
    nerf = json.loads((workdir / "results" / "nerf" / "s1" / "eval.json").read_text())
    assert nerf["heldout_cameras"] == ["cam01"] and nerf["frames"] == 3 and nerf["mean"]["psnr_full"] > 10
    assert (workdir / "results" / "nerf" / "s1" / "work" / "train_log.jsonl").exists()
    again = _snakemake(workdir, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_invalid_config_is_rejected_by_the_schema(workdir):
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    cfg["synthetic"]["num_cameras"] = "four"
    (workdir / "bad.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert r.returncode != 0 and "num_cameras" in r.stderr + r.stdout
