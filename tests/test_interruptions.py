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
                value = obj[()]
                if isinstance(value, np.ndarray) and value.dtype == object:  # encoded images: hash the bytes, not the pointers
                    for item in value.ravel():
                        h.update(bytes(item))
                else:
                    h.update(np.ascontiguousarray(value).tobytes())

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


def _run_until_killed(wd: Path, done_before: int, target: int, delay: float) -> tuple[bool, int]:
    """Run the workflow until ``target`` jobs have finished in all (``done_before`` in earlier runs),
    then SIGKILL its whole process group ``delay`` seconds later, whatever is running then.
    Returns (killed, jobs finished so far)."""
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--rerun-incomplete"], cwd=wd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=snakemake_env(), start_new_session=True)  # fmt: skip
    done, text = done_before, []
    for line in proc.stdout:
        text.append(line)
        done += line.startswith("Finished jobid")
        if done >= target:
            time.sleep(delay)
            break
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    for line in proc.stdout:  # what it printed during the delay: jobs that finished then count too
        text.append(line)
        done += line.startswith("Finished jobid")
    proc.wait()
    assert killed or proc.returncode == 0, "".join(text)[-3000:]
    return killed, done


def test_ten_random_kills_end_identical_to_an_uninterrupted_run(tmp_path):
    reference = make_tiny_workflow(tmp_path / "reference")
    r = snakemake(reference, "--cores", "2", timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    total = r.stderr.count("Finished jobid")

    wd = make_tiny_workflow(tmp_path / "interrupted")
    # Kill moments spread over the whole graph: after a random number of finished jobs (any stage,
    # NeRF training and rendering included) plus a random delay into whatever runs next.
    rng = random.Random(8)
    targets = sorted(rng.sample(range(1, total - 3), KILLS))
    kills, done = [], 0
    for target in targets:
        delay = rng.uniform(0.0, 4.0)
        killed, done = _run_until_killed(wd, done, target, delay)
        if not killed:
            break  # finished before the moment came
        kills.append(f"{done}+{delay:.1f}s")
        unlock = snakemake(wd, "--unlock")  # a killed snakemake leaves its lock
        assert unlock.returncode == 0, (unlock.stdout + unlock.stderr)[-3000:]
    print(f"killed {len(kills)} times, after <jobs finished>+<seconds>: {kills} (of {total} jobs)")
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
