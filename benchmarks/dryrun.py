"""Planning at NToP's scale: how long ``snakemake -n`` takes on a 43-subject dataset, and how many jobs.

    python benchmarks/dryrun.py [--repeats 3]

Writes NToP's dataset as a config (7 Human3.6M subjects x 15 actions, fitted bodies, background
subtraction; 27 GeneBody and 9 ZJU-MoCap subjects, their own bodies and masks), with empty stand-ins
for the raw trees and model files (planning reads no data), in a copy of the workflow, and times
``snakemake -n --configfile`` on it. Two peers in the same run: the demo's own dry run (what 43
subjects cost over one) and Snakemake's floor, a trivial Snakefile with as many jobs (one input, one
parameter, a log and a benchmark each), which also shows how fast this machine is at the moment.
Bar: < 5 s, one job per subject x action (never per frame).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
H36M_SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
H36M_ACTIONS = ["Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases", "Sitting",
                "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether"]  # fmt: skip
ZJU_SUBJECTS = ["313", "315", "377", "386", "387", "390", "392", "393", "394"]


def ntop_config(root: Path) -> dict:
    """NToP's 43 subjects over stand-in trees under ``root``."""
    data, models = root / "data", root / "models"
    for path in (models / "SMPL_NEUTRAL.pkl", models / "pose.onnx", models / "det.onnx", data / "h36m" / "cameras.h5"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    subjects: dict[str, dict] = {}
    for s in H36M_SUBJECTS:
        (data / "h36m" / s).mkdir(parents=True)
        subjects[s] = {"source": "h36m", "raw": f"{data}/h36m/{{subject}}", "actions": H36M_ACTIONS, "smpl": "fit", "code": int(s[1:]),
                       "adapter": {"cameras": f"{data}/h36m/cameras.h5"}, "masks": {"method": ["bgsub", "smpl_refine"]}}  # fmt: skip
    for i in range(27):
        name = f"gb{i + 1:03d}"
        (data / "genebody" / name).mkdir(parents=True)
        subjects[name] = {"source": "genebody", "raw": f"{data}/genebody/{{subject}}", "actions": ["all"], "code": i + 1, "masks": {"method": ["provided", "smpl_refine"]}}
    for z in ZJU_SUBJECTS:
        (data / "zju" / f"CoreView_{z}").mkdir(parents=True)
        subjects[f"p{z}"] = {"source": "zju_mocap", "raw": f"{data}/zju/CoreView_{z}", "actions": ["all"], "code": int(z), "masks": {"method": ["provided", "smpl_refine"]}}
    return {
        "body_model": {"kind": "smpl", "path": str(models / "SMPL_NEUTRAL.pkl")},
        "subjects": subjects,
        "ingest": {"stride": 5},
        "keypoints": {"backend": "onnx", "onnx": {"model": str(models / "pose.onnx"), "detector": str(models / "det.onnx"), "box_source": ["detector", "previous"]}},
        "nerf": {"heldout_cameras": ["cam03"]},
        "dataset": {"code": 0, "splits": {"train": H36M_SUBJECTS[:5] + [f"gb{i + 1:03d}" for i in range(19)] + [f"p{z}" for z in ZJU_SUBJECTS[:7]],
                                          "val": H36M_SUBJECTS[5:] + [f"gb{i + 1:03d}" for i in range(19, 27)] + [f"p{z}" for z in ZJU_SUBJECTS[7:]]}},
    }  # fmt: skip


def trivial_workflow(root: Path, jobs: int) -> Path:
    """A Snakefile planning ``jobs`` jobs of one rule and a target rule, with nothing to read."""
    root.mkdir()
    (root / "Snakefile").write_text(
        f"N = {jobs - 1}\n"
        "rule all:\n    input: expand('out/{i}.txt', i=range(N))\n"
        "rule one:\n    input: lambda w: 'Snakefile'\n    output: 'out/{i}.txt'\n    params: p=lambda w: w.i\n"
        "    log: 'logs/{i}.log'\n    benchmark: 'bench/{i}.tsv'\n    shell: 'echo {params.p} > {output}'\n"
    )
    return root


def dry_run(workdir: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", *args], cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"snakemake -n failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return seconds, r.stdout + r.stderr


def job_counts(text: str) -> dict[str, int]:
    """The dry run's job table: rule -> count (and ``total``)."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", text, re.M)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="dry runs per config; the best is reported")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(tmp) / "wf"
        wd.mkdir()
        for name in ("Snakefile", "rules", "workflow", "config", "envs"):
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, wd / name)
        (wd / "ntop_scale.yaml").write_text(yaml.safe_dump(ntop_config(Path(tmp))))
        demo = min(dry_run(wd)[0] for _ in range(a.repeats))
        runs = [dry_run(wd, "--configfile", "ntop_scale.yaml") for _ in range(a.repeats)]
        seconds, text = min(runs, key=lambda r: r[0])
        jobs = job_counts(text)
        trivial = trivial_workflow(Path(tmp) / "trivial", jobs.get("total", 0))
        floor = min(dry_run(trivial)[0] for _ in range(a.repeats))
    pairs = len(H36M_SUBJECTS) * len(H36M_ACTIONS) + 27 + len(ZJU_SUBJECTS)
    print(f"NToP scale: 43 subjects, {pairs} subject x action pairs")
    print(f"snakemake -n: {seconds:.2f} s for {jobs.get('total', 0)} jobs (bar < 5 s: {'pass' if seconds < 5 else 'FAIL'})")
    print(f"demo (1 subject, 2 actions) dry run: {demo:.2f} s; ratio NToP / demo = {seconds / demo:.2f}x")
    print(f"Snakemake's floor, a trivial Snakefile with {jobs.get('total', 0)} jobs: {floor:.2f} s; ratio NToP / floor = {seconds / floor:.2f}x")
    per_pair = {r: n for r, n in jobs.items() if r != "total"}
    print("jobs per rule: " + ", ".join(f"{r} {n}" for r, n in sorted(per_pair.items())))
    worst = max(per_pair.values())
    print(f"most jobs of one rule: {worst} (pairs: {pairs}; never per frame: {'yes' if worst <= pairs else 'NO'})")


if __name__ == "__main__":
    main()
