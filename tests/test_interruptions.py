"""Killing the workflow at random moments (SIGKILL to snakemake and every job, as a power cut or an
OOM kill would) and rerunning it ends in the same files as a run never interrupted, with nothing
half-written left behind."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiny_workflow import make_tiny_workflow, snakemake, snakemake_env

pytestmark = pytest.mark.slow

KILLS = 10
PARTIAL = re.compile(r"^\..+\.(tmp-\d+.*|tmp\..*|partial)$")  # ntop's temporary siblings (ntop.io.atomic_path, renders)


def _h5_digest(path: Path) -> str:
    """Content of a stage file: every dataset and attribute except the provenance record (times, host)."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: h5py.HLObject) -> None:
            h.update(name.encode())
            for key in sorted(obj.attrs):
                if key != "provenance":
                    h.update(f"{key}={obj.attrs[key]!r}".encode())
            if isinstance(obj, h5py.Dataset):
                h.update(np.ascontiguousarray(obj[()]).tobytes())

        visit("/", f)
        f.visititems(visit)
    return h.hexdigest()


def outputs(wd: Path) -> dict[str, str]:
    """Digest of every label, stage file and image the workflow writes (QA reports and logs carry timings)."""
    found = {}
    for path in sorted((wd / "results").rglob("*")):
        rel = path.relative_to(wd).as_posix()
        if not path.is_file() or "/qa/" in rel or "/benchmarks/" in rel or "/work/" in rel or path.name in ("provenance.json", "manifest.json"):
            continue
        if path.suffix == ".h5":
            found[rel] = _h5_digest(path)
        elif path.suffix in (".json", ".png", ".jpg"):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _run_until_killed(wd: Path, seconds: float) -> bool:
    """Run the workflow; SIGKILL its whole process group after ``seconds``. True if it was killed."""
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=snakemake_env(), start_new_session=True)  # fmt: skip
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def test_ten_random_kills_end_identical_to_an_uninterrupted_run(tmp_path):
    reference = make_tiny_workflow(tmp_path / "reference")
    start = time.monotonic()
    r = snakemake(reference, "--cores", "2", timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    wall = time.monotonic() - start

    wd = make_tiny_workflow(tmp_path / "interrupted")
    # Kill moments spread over the whole run, in run time summed over the attempts: a rerun redoes
    # killed jobs, so the work done stays behind the uninterrupted run's and every moment comes.
    rng = random.Random(8)
    moments = sorted(rng.uniform(0.03, 0.9) * wall for _ in range(KILLS))
    kills, elapsed = [], 0.0
    for moment in moments:
        seconds = max(1.5, moment - elapsed)
        if not _run_until_killed(wd, seconds):
            break  # finished before the moment came
        elapsed += seconds
        kills.append(round(elapsed, 1))
        assert snakemake(wd, "--unlock").returncode == 0  # a killed snakemake leaves its lock
    print(f"killed {len(kills)} times, at {kills} s of summed run time (uninterrupted run: {wall:.0f} s)")
    r = snakemake(wd, "--cores", "2", "--rerun-incomplete", timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(kills) == KILLS, f"the run finished after {len(kills)} kills; kill sooner"

    leftovers = [p.relative_to(wd).as_posix() for p in (wd / "results").rglob("*") if PARTIAL.match(p.name)]
    leftovers += [p.relative_to(wd).as_posix() for p in (wd / "resources").rglob("*") if PARTIAL.match(p.name)]
    assert not leftovers, leftovers
    want, got = outputs(reference), outputs(wd)
    assert len(want) > 50 and set(got) == set(want)
    differ = sorted(k for k in want if want[k] != got[k])
    assert not differ, differ
    labels = json.loads((wd / "results" / "labels" / "s1" / "turn" / "coco.json").read_text())
    assert labels["annotations"]
