"""Pose2Sim's demo trials (BSD-3-Clause), a real multi-view capture that ships inside Pose2Sim's wheel.

``Demo_SinglePerson``: four synchronised 60 fps portrait videos (1080/1088 x 1920, 100 frames) of a man
leaning and lifting an arm and a leg in a lab, another person standing in the background of some views,
and a Qualisys calibration. ``.ci/install`` installs the wheel without its dependencies (only its files
are read); :func:`copy_trial` copies a trial into a rig folder that :mod:`ntop.datasets.rig` ingests.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from ntop.errors import NtopError
from ntop.io import atomic_path

__all__ = ["TRIAL_FILES", "LICENCE", "trial_source", "copy_trial"]

#: what a trial needs: its videos and its calibration (not the calibration images)
TRIAL_FILES = ("videos", "calibration/Calib.qca.txt")
LICENCE = "BSD-3-Clause, Copyright (c) 2022, perfanalytics (Pose2Sim)"
INSTALL_HINT = "pip install --no-deps pose2sim==0.10.49 (bash .ci/install does)"


def trial_source(trial: str) -> Path:
    """The trial's folder inside the installed Pose2Sim package, located without importing it."""
    spec = importlib.util.find_spec("Pose2Sim")
    if spec is None or not spec.submodule_search_locations:
        raise NtopError(f"Pose2Sim's wheel is not installed ({INSTALL_HINT})", field="trial")
    for base in spec.submodule_search_locations:
        if (Path(base) / trial / "videos").is_dir():
            return Path(base) / trial
    raise NtopError(f"Pose2Sim has no trial {trial!r} with videos", spec.submodule_search_locations[0], "trial")


def copy_trial(trial: str, out: str | Path) -> list[str]:
    """Copy a trial's videos and calibration (and the licence) to ``out``, which appears complete or not at all."""
    src = trial_source(trial)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for rel in TRIAL_FILES:
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (src / rel).is_dir() else shutil.copy2)(src / rel, target)
        licence = next(src.parent.parent.glob("pose2sim-*.dist-info/**/LICENSE*"), None)  # the wheel's own notice
        (tmp / "LICENSE.txt").write_text(licence.read_text() if licence else LICENCE + "\n")
    return sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())
