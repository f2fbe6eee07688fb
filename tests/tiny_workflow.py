"""A copy of the workflow with a tiny synthetic config (one subject, two actions, minutes on 2 cores),
shared by the tests that run the whole graph: locally, interrupted, and on Slurm."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def make_tiny_workflow(wd: Path) -> Path:
    wd.mkdir(parents=True, exist_ok=True)
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
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))  # subjects of its own: config/demo.yaml is not loaded
    return wd


def make_tiny_trial_workflow(wd: Path) -> Path:
    """The workflow with config/pose2sim_demo.yaml on a slice of the real trial: six frames at a quarter of
    the resolution, small NeRF and views (the trial comes from the Pose2Sim wheel .ci/install installs)."""
    make_tiny_workflow(wd)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    trial = yaml.safe_load((ROOT / "config" / "pose2sim_demo.yaml").read_text())
    for key, value in trial.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and key != "subjects" else value
    cfg["ingest"].update(start=40, stop=52, stride=2, scale=0.25)
    cfg["keypoints"]["blazepose"]["variant"] = "full"  # in the wheel: the test does not depend on npm's heavy model
    cfg["triangulation"].update(threshold_px=5.0, median_window=3, smooth_window=0)
    cfg["nerf"].update(volume_resolution=16, eval={"frame_stride": 2, "samples": 32})
    cfg["nerf"]["train"] = {"iterations": 20, "rays": 256, "samples": 32, "checkpoint_every": 10, "eval_every": 20,
                            "field": {**trial["nerf"]["train"]["field"],  # the trial's surface-bound field, smaller
                                      "levels": 6, "log2_table_size": 12, "max_resolution": 64, "width": 32}}  # fmt: skip
    cfg["fit"].update(iterations=150, silhouette_rounds=3, silhouette_iterations=40)  # the trial's 6 x 100 is minutes here
    cfg["views"].update(size=64, frame_stride=2)
    cfg["render"]["samples"] = 32
    cfg["qa"]["strict"] = False  # a 20-step NeRF on six frames; every check is still reported
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def snakemake_env() -> dict[str, str]:
    """The environment with this interpreter's bin first: rules call `ntop`, Slurm jobs `python -m snakemake`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True, timeout=timeout, env=snakemake_env())
