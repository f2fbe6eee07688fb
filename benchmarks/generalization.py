"""Hold the bars off the demo: the workflow over a grid of synthetic subjects, motions, body sources and lenses.

    python benchmarks/generalization.py [--workdir /tmp/ntop-grid] [--size small|demo] [--cores 2]
                                        [--builds child slim heavy] [--lenses ntop-equidistant ...]

Each build (Anny phenotypes, its own seed) becomes two subjects, one labelled from the capture's own
bodies (``smpl: capture``) and one from bodies fitted to the keypoints (``smpl: fit``), each doing all
four motions (walk, wave, squat, turn). The workflow runs once per lens rig in one work folder (only
the views, renders and labels change from one lens to the next), and every QA report is kept per lens.
Prints one row per (subject, motion, lens) with every QA figure, the worst cell per figure, and the
cells that miss a bar. ``--size small`` (the default) shortens the clips and the NeRF's training, so
its NeRF figures sit below what the demo's settings reach; ``--size demo`` uses the demo's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MOTIONS = ["walk", "wave", "squat", "turn"]

#: Anny builds from child to heavy adult (phenotypes in [0, 1]; age 1/3 child, 2/3 young adult)
BUILDS = {
    "child": {
        "seed": 11,
        "phenotype": {"gender": 0.5, "age": 0.42, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5},
    },
    "slim": {
        "seed": 12,
        "phenotype": {"gender": 0.9, "age": 0.7, "muscle": 0.3, "weight": 0.2, "height": 0.45, "proportions": 0.4},
    },
    "heavy": {
        "seed": 13,
        "phenotype": {"gender": 0.1, "age": 0.9, "muscle": 0.6, "weight": 0.95, "height": 0.6, "proportions": 0.6},
    },
}

#: virtual rigs: NToP's equidistant rig, a sampled, tilted, per-frame double sphere, a sampled equisolid
LENSES = {
    "ntop-equidistant": {"kind": "ntop9", "model": "equidistant"},
    "sampled-double-sphere": {
        "kind": "sampled",
        "model": "double_sphere",
        "dist": [-0.2, 0.6],
        "fov_deg": 190.0,
        "views": 6,
        "tilt_deg": 25.0,
        "per_frame": True,
        "seed": 3,
    },
    "sampled-equisolid": {"kind": "sampled", "model": "equisolid", "views": 6, "tilt_deg": 15.0, "seed": 4},
    "ntop-stereographic": {"kind": "ntop9", "model": "stereographic"},
    "ntop-orthographic": {"kind": "ntop9", "model": "orthographic"},
}

SMALL = {
    "synthetic": {"num_frames": 24, "width": 192, "height": 192},
    "nerf": {
        "volume_resolution": 24,
        "train": {"iterations": 800, "rays": 768, "residual_start": 300, "residual_full": 650, "eval_every": 400},
    },
    "views": {"size": 192, "frame_stride": 4},
}

#: (figure, bar, True when higher is better)
BARS = {
    "masks_iou": (0.95, True), "nerf_box_psnr": (24.0, True), "label_iou": (0.95, True),
    "keypoints_px": (0.5, False), "visibility": (0.99, True), "fit_mpjpe_mm": (20.0, False),
}  # fmt: skip


def make_workdir(wd: Path, builds: list[str], size: str) -> None:
    """A fresh copy of the workflow whose config holds the grid's subjects (2 per build). An earlier
    grid's ``results/`` and ``resources/`` in ``wd`` are kept: Snakemake redoes only what changed, so a
    grid can grow by a build or a lens in a later sitting (a demo-sized build takes about 50 minutes)."""
    wd.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        src, dst = ROOT / name, wd / name
        if dst.is_dir():
            shutil.rmtree(dst)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    subjects = {}
    for build in builds:
        for source in ("capture", "fit"):
            subjects[f"{build}-{source}"] = {"source": "synthetic", "actions": MOTIONS, "train_actions": MOTIONS, "smpl": source,
                                             "cameras": "known", "synthetic": dict(BUILDS[build])}  # fmt: skip
    cfg["subjects"] = subjects
    cfg["dataset"]["splits"] = {"train": sorted(subjects)}
    cfg["qa"]["strict"] = False  # the grid measures every cell; a failed bar must not stop the others
    if size == "small":
        for section, values in SMALL.items():
            for key, value in values.items():
                cfg[section][key] = {**cfg[section][key], **value} if isinstance(value, dict) else value
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def run_lens(wd: Path, lens: str, cores: int) -> float:
    """Run the workflow with one lens rig; keep its QA reports in ``grid/<lens>/``. Returns seconds."""
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["views"] = {**{k: v for k, v in cfg["views"].items() if k in ("size", "frame_stride", "heights_radii")}, **LENSES[lens]}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    t = time.perf_counter()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the rules call `ntop`
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--rerun-incomplete"]
    r = subprocess.run(command, cwd=wd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    (wd / "grid").mkdir(exist_ok=True)
    (wd / "grid" / f"{lens}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"the workflow failed with lens {lens}; see {wd / 'grid' / f'{lens}.log'}")
    shutil.copytree(wd / "results" / "qa", wd / "grid" / lens / "qa", dirs_exist_ok=True)
    for subject_dir in (wd / "results" / "nerf").iterdir():
        shutil.copy(subject_dir / "eval.json", wd / "grid" / lens / "qa" / f"nerf-{subject_dir.name}.json")
    return seconds


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def cells(wd: Path, lens: str, subjects: list[str]) -> list[dict]:
    """One row of QA figures per (subject, motion) for a lens (None where a figure was not produced)."""
    qa = wd / "grid" / lens / "qa"
    rows = []
    for subject in subjects:
        labels = _load(qa / "labels" / f"{subject}.json").get("actions", {})
        fit = _load(qa / "fit" / f"{subject}.json").get("actions", {})
        nerf = _load(qa / f"nerf-{subject}.json").get("mean", {})
        for motion in MOTIONS:
            masks = _load(qa / "masks" / subject / f"{motion}.json").get("masks", {})
            checks = labels.get(motion, {}).get("checks", {})
            projection = checks.get("keypoints_vs_reference_projection", {})
            rows.append({
                "lens": lens, "subject": subject, "motion": motion,
                "masks_iou": masks.get("mean_iou"), "nerf_box_psnr": nerf.get("psnr_box"),
                "label_iou": checks.get("alpha_vs_label_silhouette", {}).get("mean_iou"),
                "keypoints_px": None if "not_run" in projection else projection.get("max_px"),
                "visibility": checks.get("visibility_vs_raycast", {}).get("agreement"),
                "fit_mpjpe_mm": fit.get(motion, {}).get("mpjpe_mm"),
            })  # fmt: skip
    return rows


def misses(row: dict) -> list[str]:
    """The figures of a row that miss their bar, or were not produced."""
    out = []
    for name, (bar, higher) in BARS.items():
        value = row[name]
        if value is None or (value < bar if higher else value > bar):
            out.append(f"{name} {'n/a' if value is None else f'{value:.4g}'}")
    return out


def report(rows: list[dict]) -> None:
    names = list(BARS)
    print(f"{'lens':22s} {'subject':14s} {'motion':6s} " + " ".join(f"{n:>13s}" for n in names))
    for r in rows:
        print(
            f"{r['lens']:22s} {r['subject']:14s} {r['motion']:6s} "
            + " ".join(f"{'n/a':>13s}" if r[n] is None else f"{r[n]:13.4g}" for n in names)
        )
    print("\nworst cell per figure (bar):")
    for name, (bar, higher) in BARS.items():
        have = [r for r in rows if r[name] is not None]
        if have:
            worst = (min if higher else max)(have, key=lambda r: r[name])
            print(
                f"  {name:14s} {worst[name]:.4g} ({'>=' if higher else '<='} {bar})  {worst['lens']} / {worst['subject']} / {worst['motion']}"
            )
    failing = [(r, m) for r in rows if (m := misses(r))]
    print(f"\n{len(rows) - len(failing)} of {len(rows)} cells meet every bar" + (":" if not failing else "; the others:"))
    for r, m in failing:
        print(f"  {r['lens']} / {r['subject']} / {r['motion']}: {', '.join(m)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/ntop-grid"))
    ap.add_argument("--size", choices=["small", "demo"], default="small")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--builds", nargs="+", choices=list(BUILDS), default=list(BUILDS))
    ap.add_argument(
        "--lenses", nargs="+", choices=list(LENSES), default=["ntop-equidistant", "sampled-double-sphere", "sampled-equisolid"]
    )
    ap.add_argument("--report-only", action="store_true", help="print the table of a finished grid in --workdir")
    a = ap.parse_args()
    subjects = [f"{b}-{s}" for b in a.builds for s in ("capture", "fit")]
    if not a.report_only:
        make_workdir(a.workdir, a.builds, a.size)
        for lens in a.lenses:
            print(f"{lens}: {run_lens(a.workdir, lens, a.cores):.0f} s", flush=True)
    report([row for lens in a.lenses for row in cells(a.workdir, lens, subjects)])


if __name__ == "__main__":
    main()
