"""One cell of benchmarks/generalization.py's grid, small: a build and a motion the demo does not use,
bodies fitted to the keypoints, and a sampled, tilted, per-frame double-sphere rig. Every QA check runs
(none is "not run"), and the label checks that depend neither on training length nor on image size hold."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from tiny_workflow import make_tiny_workflow, snakemake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generalization import BUILDS, LENSES  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_child_squatting_under_a_tilted_double_sphere_rig(tmp_path):
    wd = make_tiny_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["subjects"] = {"child": {"source": "synthetic", "actions": ["squat"], "smpl": "fit", "synthetic": dict(BUILDS["child"])}}
    cfg["dataset"]["splits"] = {"train": ["child"]}
    cfg["nerf"]["heldout_cameras"] = ["cam01"]
    cfg["fit"]["iterations"] = 150
    cfg["views"] = {**{k: cfg["views"][k] for k in ("size", "frame_stride", "heights_radii")}, **LENSES["sampled-double-sphere"]}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(wd, "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = (wd / "results" / "qa" / "summary.tsv").read_text()
    assert "not run" not in summary, summary
    labels = json.loads((wd / "results" / "qa" / "labels" / "child.json").read_text())["actions"]["squat"]["checks"]
    assert labels["keypoints_vs_reference_projection"]["reference"].startswith("Usenko")
    assert labels["keypoints_vs_reference_projection"]["max_px"] <= 0.5
    assert labels["visibility_vs_raycast"]["agreement"] >= 0.99
    fit = json.loads((wd / "results" / "qa" / "fit" / "child.json").read_text())["actions"]["squat"]
    assert fit["frames"] == 3 and fit["mpjpe_mm"] > 0  # measured; two 80-pixel cameras and three frames bound nothing about its size
