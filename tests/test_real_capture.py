"""Real pixels in CI: a slice of Pose2Sim's trial (six frames, a quarter of the resolution) from the
wheel's videos to labels, with BlazePose, the subject among other people and person segmentation."""

import json

import h5py
import numpy as np
import pytest
from tiny_workflow import make_tiny_trial_workflow, snakemake

pytestmark = pytest.mark.slow


def test_a_slice_of_the_real_trial_goes_from_videos_to_labels(tmp_path):
    wd = make_tiny_trial_workflow(tmp_path / "wf")
    r = snakemake(wd, "--cores", "2", timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in (wd / "resources" / "pose2sim" / "Demo_SinglePerson" / "videos").iterdir()) == [
        f"cam0{i}.mp4" for i in range(1, 5)
    ]
    with h5py.File(wd / "results" / "keypoints" / "pose2sim" / "balance" / "keypoints2d.h5") as f:
        chosen, tracks = f["chosen"][()], f["candidates/track"][()]
        assert f["joints"].shape == (4, 6, 17, 2) and (chosen >= 0).mean() > 0.9
        assert (tracks >= 0).sum(-1).max() >= 2  # someone besides the subject was seen, and not chosen
        assert not (f["filled_from_other_views"][()] & (chosen >= 0)).any()  # only views that had lost him are looked at again
    kp = json.loads((wd / "results" / "qa" / "keypoints" / "pose2sim" / "balance.json").read_text())
    assert set(kp["checks"]["subject"]["filled_from_other_views"]) == {f"cam0{i}" for i in range(1, 5)}
    tri = kp["ground_truth"] is False and kp["checks"]["triangulation"]
    assert tri["triangulated_limbs_pct"] > 90 and tri["reprojection_median_px"] < 15 and tri["leave_one_out_median_px"] < 60
    fit = json.loads((wd / "results" / "qa" / "fit" / "pose2sim.json").read_text())["overall"]
    assert fit["mask_iou_mean"] > 0.6 and fit["joints_vs_detections_median_px"] < 60
    assert fit["keypoint_offsets_max_cm"] is not None and fit["model_joints_vs_kept_detections_median_px"] is not None
    labels = json.loads((wd / "results" / "qa" / "labels" / "pose2sim.json").read_text())["actions"]["balance"]["checks"]
    for check in ("keypoints_vs_reference_projection", "visibility_vs_raycast", "cocoeval_self_ap"):
        assert labels[check]["passed"], (check, labels[check])
    with h5py.File(wd / "results" / "masks" / "pose2sim" / "balance" / "masks.h5") as f:
        assert (
            f.attrs["method"] == "bgsub,smpl_refine"
            and np.mean([f[f"masks/cam0{i}"][()].mean() for i in range(1, 5)]) > 0.01
        )
    cross_view = json.loads((wd / "results" / "qa" / "masks" / "pose2sim" / "balance.json").read_text())["cross_view"]
    assert cross_view["frames"] == 2 and cross_view["supported"] > 0.9, cross_view  # the views' masks agree
    manifest = json.loads((wd / "results" / "dataset" / "manifest.json").read_text())
    assert manifest["counts"]["train"]["images"] == 3 * 9  # every second of six frames, NToP's nine cameras
    again = snakemake(wd, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
