"""The tiny workflow through workflow/profiles/slurm on a real Slurm (``.ci/slurm-up`` starts one):
it completes, and a job cancelled with scancel while running is submitted again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny_workflow import ROOT, make_tiny_workflow, snakemake_env

pytestmark = pytest.mark.slow


def _slurm_is_up() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return r.returncode == 0 and any(state in ("idle", "mixed", "allocated") for state in r.stdout.split())


def _accounting() -> bool:
    """Whether sacct answers (slurmdbd running, as on most clusters)."""
    return shutil.which("sacct") is not None and subprocess.run(["sacct", "-n", "-X", "-o", "JobID"], capture_output=True).returncode == 0


def ci_profile(dst: Path) -> Path:
    """workflow/profiles/slurm, fitted to a small one-node CI cluster (the GPU requests follow the config's devices)."""
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    for resources in profile["set-resources"].values():
        resources.update(mem_mb=400, cpus_per_task=1)
    profile["default-resources"].update(slurm_partition="debug", mem_mb=400, cpus_per_task=1)
    profile.update({"jobs": 2, "latency-wait": 5, "slurm-init-seconds-before-status-checks": 1,
                    "slurm-keep-successful-logs": True, "max-status-checks-per-second": 2})  # fmt: skip
    (dst / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (dst / "config.yaml").write_text(yaml.safe_dump(profile))
    return dst


def profile_status(profile: Path) -> str:
    return yaml.safe_load((profile / "config.yaml").read_text()).get("slurm-status-command", "sacct (the plugin's default)")


def _running(rule: str) -> str | None:
    """Slurm id of a running job of ``rule`` (the plugin puts the rule in the job's comment)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True).stdout
    return next((line.split()[0] for line in out.splitlines() if f"rule_{rule}" in line), None)


@pytest.mark.skipif(not _slurm_is_up(), reason="no Slurm here: .ci/slurm-up starts one (root, apt)")
def test_slurm_profile_runs_the_workflow_and_retries_a_cancelled_job(tmp_path):
    wd = make_tiny_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["nerf"]["device"] = cfg["render"]["device"] = "cpu"  # the CI cluster has no GPUs: request none
    cfg["nerf"]["train"].update(iterations=400, checkpoint_every=50, eval_every=400)  # long enough that scancel lands before it ends
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    profile = ci_profile(tmp_path / "profile")
    print(f"cluster {'with' if _accounting() else 'without'} accounting; status checks: {profile_status(profile)}")
    log = (tmp_path / "snakemake.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--workflow-profile", str(profile)], cwd=wd, stdout=log, stderr=subprocess.STDOUT,
                            env=snakemake_env(), start_new_session=True)  # fmt: skip
    cancelled = None
    deadline = time.monotonic() + 1500
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if cancelled is None and (job := _running("train_nerf")):
                subprocess.run(["scancel", job], check=True)
                cancelled = job
                print(f"scancel {job} (train_nerf, running)")
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()  # snakemake ignores SIGTERM while remote jobs run
        log.close()
    text = (tmp_path / "snakemake.log").read_text()
    print("\n".join(line for line in text.splitlines() if any(k in line for k in ("Executor", "restart", "Error in rule", "CANCELLED", "steps (100%)", "Elapsed"))))
    assert proc.returncode == 0, text[-4000:]
    assert cancelled is not None, "no train_nerf job was seen running"
    assert text.count("rule train_nerf:") >= 2 and "Trying to restart job" in text
    assert "has been submitted with SLURM jobid" in text  # the jobs went through sbatch, not a local fallback
    manifest = json.loads((wd / "results" / "dataset" / "manifest.json").read_text())
    assert manifest["counts"]["train"]["images"] == 2 * 3 * 9
