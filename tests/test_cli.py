import os
import subprocess
import sys
from pathlib import Path

import pytest


def ntop(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "ntop.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_bad_input_gives_one_clear_line_and_no_output(tmp_path, body_model_path):
    out_json = tmp_path / "qa.json"
    r = ntop("qa", "capture", "--capture", str(tmp_path / "missing.h5"), "--frames", "x.h5", "--body-model", str(body_model_path),
             "--out-json", str(out_json), "--out-sheet", str(tmp_path / "s.png"))  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"ntop qa capture: error: {tmp_path / 'missing.h5'}: stage file not found"]
    assert "Traceback" not in r.stderr and not out_json.exists()
    # a subject's repeated options must pair up
    r = ntop("qa", "labels", "--views", "a.h5", "--views", "b.h5", "--render", "r", "--labels", "l", "--body-model", str(body_model_path),
             "--out-json", str(out_json))  # fmt: skip
    assert r.returncode == 2 and not out_json.exists()
    assert r.stderr.strip().splitlines() == ["ntop qa labels: error: give --views and --render and --labels the same number of times"]


@pytest.mark.parametrize(
    "params, message",
    [
        ("{not json", "--params is not valid JSON"),
        ('{"num_frames": 0}', "num_frames and num_cameras must be positive"),
        ('{"colour": 1}', "unknown keys ['colour']"),
    ],
)
def test_bad_parameters_are_reported(tmp_path, body_model_path, params, message):
    r = ntop("synthesize", "--body-model", str(body_model_path), "--subject", "s", "--action", "walk", "--params", params, "--out", str(tmp_path / "raw"))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "raw").exists()


def test_unknown_motion_and_wrong_body_file(tmp_path, body_model_path):
    r = ntop("synthesize", "--body-model", str(body_model_path), "--subject", "s", "--action", "backflip", "--out", str(tmp_path / "raw"))
    assert r.returncode == 2 and "unknown synthetic motion 'backflip'" in r.stderr
    wrong = tmp_path / "SMPL_NEUTRAL.pkl"
    wrong.write_bytes(b"\x80\x04K\x01.")  # a pickled int, not a model
    r = ntop("synthesize", "--body-model", str(wrong), "--subject", "s", "--action", "walk", "--out", str(tmp_path / "raw"))
    assert r.returncode == 2 and "SMPL_NEUTRAL.pkl: expected a dict of arrays" in r.stderr and "Traceback" not in r.stderr


def test_body_model_command_writes_a_loadable_model(tmp_path):
    r = ntop("body-model", "--out", str(tmp_path / "m.npz"))
    assert r.returncode == 0, r.stderr
    from ntop.body import BodyModel

    assert BodyModel.from_file(tmp_path / "m.npz").num_vertices > 3000


def test_gpu_jobs_on_one_machine_claim_distinct_devices(tmp_path):
    """Three concurrent jobs on a 4-GPU workstation get three different devices; a killed job's device is free again."""
    code = "import sys, time; from ntop.settings import claim_gpu; print(claim_gpu(4, sys.argv[1]), flush=True); time.sleep(30)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    jobs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    try:
        claimed = [int(job.stdout.readline()) for job in jobs]
        assert sorted(claimed) == [0, 1, 2]
        jobs[0].kill()
        jobs[0].wait()
        late = subprocess.run([sys.executable, "-c", code.replace("time.sleep(30)", "pass"), str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
        assert int(late.stdout) == claimed[0]  # the lowest free index
    finally:
        for job in jobs:
            job.kill()
            job.wait()
