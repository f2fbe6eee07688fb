import json
import pickle
from dataclasses import replace

import h5py
import numpy as np
import pytest
import torch

from ntop.body.params import read_smpl
from ntop.cli import main
from ntop.datasets.synthetic.capture import SyntheticConfig, make_cameras, pose_sequence
from ntop.errors import NtopError
from ntop.fit.core import FitConfig, GMMPrior, View2D, fit_bodies
from ntop.fit.monocular import MONOCULAR_FLOORS, fit_monocular, monocular_config
from ntop.fit.silhouette import QUARTER, SilhouetteTerm, signed_distance
from ntop.io import create_stage, read_provenance, write_cameras
from ntop.keypoints.triangulate import KEYPOINTS3D_SCHEMA
from ntop.masks.prior import silhouettes
from ntop.masks.stage import MASKS_SCHEMA, frame_ious
from ntop.qa.fit import pa_errors
from ntop.raster import vertex_normals

f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731


@pytest.fixture(scope="module")
def walk(body):
    syn = SyntheticConfig(num_frames=40, seed=7)
    p = pose_sequence(body, "walk", syn)
    with torch.no_grad():
        out = body(f32(p["global_orient"]), f32(p["body_pose"]), f32(p["betas"])[None], f32(p["transl"]))
    return p, out, body.joint_set(out, "coco17").double().numpy(), make_cameras(syn)


def _errors(body, res, out):
    with torch.no_grad():
        fit = body(f32(res["global_orient"]), f32(res["body_pose"]), f32(res["betas"])[None], f32(res["transl"]))
    return float((fit.joints - out.joints).norm(dim=-1).mean() * 1000), float((fit.vertices - out.vertices).norm(dim=-1).mean() * 1000), fit


def test_joints_only_equals_the_full_body(body):
    g, p, b, t = torch.randn(5, 3) * 0.5, torch.randn(5, 23, 3) * 0.3, torch.randn(1, 10), torch.randn(5, 3)
    out = body(g, p, b, t)
    for name in ("coco17", "smpl24", "hybrik29"):
        assert (body.joints_only(g, p, b, t, name) - body.joint_set(out, name)).abs().max() < 1e-5


def test_multiview_fit_recovers_the_body_and_shrugs_off_an_outlier_frame(body, walk):
    p, out, gt, _ = walk
    rng = np.random.default_rng(0)
    targets = gt + rng.normal(0, 0.008, gt.shape)
    targets[rng.uniform(size=gt.shape[:2]) < 0.05] = np.nan  # missing joints
    targets[20] += rng.normal(0, 0.3, (17, 3))  # a frame the triangulation got badly wrong
    res = fit_bodies(body, "coco17", FitConfig(), joints3d=targets)
    mpjpe, vertex, _ = _errors(body, res, out)
    assert mpjpe < 20 and vertex < 25, (mpjpe, vertex)
    assert res["error_3d_m"][20] > 0.3 and np.nanmedian(res["error_3d_m"]) < 0.02  # the residual shows the bad frame
    with pytest.raises(NtopError, match="nothing to fit"):
        fit_bodies(body, "coco17", FitConfig())


def test_a_hip_never_seen_still_fits_from_the_other_three_torso_joints(body, walk):
    p, out, gt, _ = walk
    targets = gt + np.random.default_rng(1).normal(0, 0.008, gt.shape)
    targets[:, 12] = np.nan  # the right hip: no camera ever saw it
    targets[5:9, 11] = np.nan  # and the left one in a few frames: those borrow their neighbours' start
    res = fit_bodies(body, "coco17", FitConfig(), joints3d=targets)
    mpjpe, vertex, _ = _errors(body, res, out)
    assert mpjpe < 25 and vertex < 30, (mpjpe, vertex)
    targets[:, 11] = np.nan
    with pytest.raises(NtopError, match="no frame has three of the four torso joints"):
        fit_bodies(body, "coco17", FitConfig(), joints3d=targets)


def test_monocular_fit_pa_mpjpe(body, walk):
    p, out, gt, cams = walk
    cam = cams[0]
    uv, seen = cam.project(gt.reshape(-1, 3))
    uv = uv.reshape(40, 17, 2) + np.random.default_rng(1).normal(0, 2.0, (40, 17, 2))
    res = fit_monocular(body, View2D(cam, uv, seen.reshape(40, 17).astype(float)), "coco17", FitConfig(), up=np.array([0.0, 0.0, 1.0]))
    _, _, fit = _errors(body, res, out)
    pa = pa_errors(fit.joints.double().numpy(), out.joints.double().numpy()).mean() * 1000
    assert pa < 50, pa
    assert np.nanmedian(res["error_2d_px"]) < 5


def test_monocular_priors_floor_unless_a_gmm_stands_in():
    weak = FitConfig(weight_pose=1e-6, weight_shape=1e-6)
    mono = monocular_config(weak)
    assert (mono.weight_3d, mono.weight_2d) == (0.0, 1.0)
    assert mono.weight_pose == MONOCULAR_FLOORS["weight_pose"] and mono.weight_shape == MONOCULAR_FLOORS["weight_shape"]
    with_gmm = monocular_config(replace(weak, gmm_prior="gmm_08.pkl"))
    assert with_gmm.weight_pose == 1e-6 and with_gmm.weight_shape == MONOCULAR_FLOORS["weight_shape"]


def test_pa_errors_ignore_similarity_transforms():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 24, 3))
    from scipy.spatial.transform import Rotation

    R = Rotation.random(random_state=1).as_matrix()
    assert pa_errors(2.5 * X @ R.T + 1.0, X).max() < 1e-9


def test_gmm_prior_file(tmp_path):
    rng = np.random.default_rng(0)
    means = rng.normal(0, 0.2, (2, 69))
    covars = np.stack([np.eye(69) * 0.05, np.eye(69) * 0.1])
    with open(tmp_path / "gmm_08.pkl", "wb") as f:
        pickle.dump({"means": means, "covars": covars, "weights": np.array([0.5, 0.5])}, f)
    prior = GMMPrior(tmp_path / "gmm_08.pkl")
    at_mean = prior(f32(means[:1]))
    away = prior(f32(means[:1] + 0.5))
    assert float(at_mean) < float(away)
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump({"means": means}, f)
    with pytest.raises(NtopError, match="covars"):
        GMMPrior(tmp_path / "bad.pkl")
    with pytest.raises(NtopError, match="not found"):
        GMMPrior(tmp_path / "missing.pkl")


def test_fit_stage_smpl_file_and_easymocap_export(body, walk, tmp_path):
    p, out, gt, cams = walk
    paths = []
    for action, rows in (("a1", slice(0, 20)), ("a2", slice(20, 40))):
        path = tmp_path / f"{action}.h5"
        with create_stage(path, KEYPOINTS3D_SCHEMA, 1) as f:
            f.attrs["joint_set"] = "coco17"
            write_cameras(f.create_group("cameras"), cams)
            f.create_dataset("frame_index", data=np.arange(20) * 2)
            f.create_dataset("joints", data=gt[rows])
        paths += ["--action", action, "--keypoints3d", str(path)]
    smpl = tmp_path / "smpl.h5"
    args = ["fit-smpl", *paths, "--body-model", body.source, "--params", json.dumps({"iterations": 300}), "--out", str(smpl), "--easymocap", str(tmp_path / "em")]
    assert main(args) == 0
    seq = read_smpl(smpl, "a2")
    assert seq.global_orient.shape == (20, 3) and seq.body_pose.shape == (20, 69) and list(seq.frame_index) == list(np.arange(20) * 2)
    with h5py.File(smpl) as f:
        assert f.attrs["schema"] == "smpl" and f["actions/a1/joints/coco17"].shape == (20, 17, 3)
    # EasyMocap's convention (rotate about the model origin, then Th) gives the same vertices
    person = json.loads((tmp_path / "em" / "a2" / "000002.json").read_text())[0]
    from scipy.spatial.transform import Rotation

    poses = f32(person["poses"][0][3:]).reshape(1, 23, 3)
    local = body(torch.zeros(1, 3), poses, f32(person["shapes"][0])[None]).vertices[0].double().numpy()
    em = local @ Rotation.from_rotvec(person["Rh"][0]).as_matrix().T + np.array(person["Th"][0])
    ours = body(f32(seq.global_orient[1:2]), f32(seq.body_pose[1:2]), f32(seq.betas)[None], f32(seq.transl[1:2])).vertices[0].double().numpy()
    assert np.abs(em - ours).max() < 1e-4
    assert main(["fit-smpl", "--action", "a1", "--body-model", body.source, "--out", str(tmp_path / "x.h5")]) == 2  # no keypoints
    assert not (tmp_path / "x.h5").exists()


def test_fit_images_writes_eft_json(body, walk, tmp_path):
    p, out, gt, cams = walk
    cam = cams[1]
    images, anns = [], []
    for i in range(0, 40, 8):
        uv, seen = cam.project(gt[i])
        kp = np.concatenate([uv, np.where(seen, 2, 0)[:, None]], 1)
        lo, hi = uv.min(0) - 10, uv.max(0) + 10
        images.append({"id": i, "file_name": f"{i:06d}.png", "width": 256, "height": 256})
        anns.append({"id": 100 + i, "image_id": i, "category_id": 1, "keypoints": kp.ravel().tolist(), "bbox": [*lo, *(hi - lo)], "num_keypoints": int(seen.sum())})
    (tmp_path / "coco.json").write_text(json.dumps({"images": images, "annotations": anns}))
    assert main(["fit-images", "--coco", str(tmp_path / "coco.json"), "--body-model", body.source, "--out", str(tmp_path / "eft.json")]) == 0
    data = json.loads((tmp_path / "eft.json").read_text())["data"]
    assert len(data) == 5 and data[0]["annotId"] == 100 and data[0]["imageName"] == "000000.png" and data[0]["smpltype"] == "smpl"
    R = np.array(data[0]["parm_pose"])
    assert R.shape == (24, 3, 3) and np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-4)
    assert len(data[0]["parm_shape"]) == 10 and len(data[0]["parm_cam"]) == 3 and data[0]["parm_cam"][0] > 0
    assert max(d["fit_error_px"] for d in data) < 6
    (tmp_path / "bad.json").write_text(json.dumps({"images": [], "annotations": [{"keypoints": [1, 2]}]}))
    assert main(["fit-images", "--coco", str(tmp_path / "bad.json"), "--body-model", body.source, "--out", str(tmp_path / "x.json")]) == 2


def test_signed_distance_is_negative_inside_and_grows_outside():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    d = signed_distance(mask).astype(float) / QUARTER
    # the edge lies half way between pixels 29 (inside) and 30 (outside)
    assert d[20, 20] == -9.5 and d[20, 35] == 5.5 and d[20, 29] == -0.5 and d[20, 30] == 0.5
    assert d.max() * QUARTER <= 127


def _shape_start(body, walk, rows):
    """The true pose with the mean shape: what keypoints alone leave of a subject's girth."""
    p, out, gt, cams = walk
    start = {"global_orient": p["global_orient"][rows], "body_pose": p["body_pose"][rows], "transl": p["transl"][rows], "betas": np.zeros(10)}
    masks = [silhouettes(body, out.vertices[rows], cam) for cam in cams]
    return start, masks


def test_silhouettes_correct_the_shape_that_keypoints_leave(body, walk):
    p, out, gt, cams = walk
    rows = np.arange(0, 40, 8)
    start, masks = _shape_start(body, walk, rows)
    with torch.no_grad():
        before = body(f32(start["global_orient"]), f32(start["body_pose"]), None, f32(start["transl"])).vertices
    err0 = float((before - out.vertices[rows]).norm(dim=-1).mean()) * 1000
    cfg = FitConfig(iterations_global=0, iterations=0, silhouette_rounds=2, silhouette_iterations=40)
    term = SilhouetteTerm(cams, masks, body.faces)
    res = fit_bodies(body, "coco17", cfg, joints3d=gt[rows], segments=np.arange(len(rows)), init=start, silhouette=term)  # frames apart: no smoothness
    with torch.no_grad():
        after = body(f32(res["global_orient"]), f32(res["body_pose"]), f32(res["betas"])[None], f32(res["transl"])).vertices
    err1 = float((after - out.vertices[rows]).norm(dim=-1).mean()) * 1000
    assert err0 > 8 and err1 < 0.5 * err0, (err0, err1)
    assert "silhouette" in res["objective"] and all(len(t) > 0 for t, _, _ in term.outline)


def test_personal_offsets_learn_what_the_shape_space_cannot(body, walk):
    """A cap 4 cm thick on the crown: no shape coefficient makes one, the offsets do, and the joints stay."""
    p, out, gt, cams = walk
    rows = np.arange(0, 40, 8)
    rest, rest_joints = body.shaped(f32(p["betas"])[None])
    crown = (rest[0, :, 1] > rest_joints[0, 15, 1] + 0.05).numpy()  # above the head joint (y is up in the rest pose)
    normals = vertex_normals(rest, body.faces)[0].numpy()
    cap = np.where(crown[:, None], 0.04 * normals, 0.0)
    start = {k: p[k][rows] for k in ("global_orient", "body_pose", "transl")} | {"betas": p["betas"]}
    with torch.no_grad():
        capped = body.pose(start | {"offsets": cap}).vertices
    masks = [silhouettes(body, capped, cam) for cam in cams]
    cfg = FitConfig(iterations_global=0, iterations=0, silhouette_rounds=3, silhouette_iterations=40)
    fits = {}
    for offsets in (False, True):
        term = SilhouetteTerm(cams, masks, body.faces)
        fits[offsets] = fit_bodies(body, "coco17", replace(cfg, personal_offsets=offsets), joints3d=gt[rows],
                                   segments=np.arange(len(rows)), init=start, silhouette=term)
    res = fits[True]
    assert fits[False]["offsets"] is None and res["offsets"].shape == (body.num_vertices, 3)
    along = (res["offsets"] * normals).sum(1)
    assert 0.03 < np.median(along[crown]) < 0.05 and np.abs(along[~crown]).mean() < 0.005, (np.median(along[crown]), np.abs(along[~crown]).mean())
    ious = {}
    for offsets, fit in fits.items():
        with torch.no_grad():
            posed = body.pose({k: fit[k] for k in ("global_orient", "body_pose", "transl", "betas", "offsets")})
        ious[offsets] = np.mean([frame_ious(m, silhouettes(body, posed.vertices, c)).mean() for m, c in zip(masks, cams)])
        assert np.abs(body.joint_set(posed, "coco17").numpy() - gt[rows]).max() < 0.02  # the joints stay with the keypoints
    assert ious[True] > ious[False] + 0.01 and ious[True] > 0.97, ious


def test_keypoint_offsets_learn_where_a_detector_puts_its_keypoints(body, walk):
    """A detector whose wrists sit 4 cm along the forearm and whose hips sit 3 cm higher than the model's:
    refined against the true silhouettes, the keypoint offsets take the difference and the body stays
    where it is; without them the body bends towards the keypoints."""
    p, _, gt, cams = walk
    rows = np.arange(0, 40, 8)
    start, masks = _shape_start(body, walk, rows)
    start["betas"] = p["betas"]
    true = np.zeros((17, 3))
    true[[9, 10], 0] = [0.04, -0.04]  # the wrists, out along the arms (x is the arms' axis in the rest pose)
    true[[11, 12], 1] = 0.03  # the hips, up (y is up)
    t = {k: f32(v) for k, v in start.items()}
    with torch.no_grad():
        detected = gt[rows] + body.turned_offsets(t["global_orient"], t["body_pose"], f32(true), body.joint_weights("coco17")).double().numpy()
    views = [View2D(cam, cam.project(detected.reshape(-1, 3))[0].reshape(len(rows), 17, 2), np.ones((len(rows), 17))) for cam in cams]
    cfg = FitConfig(iterations_global=0, iterations=0, weight_2d=1.0, silhouette_rounds=3, silhouette_iterations=40)
    fits = {}
    for learnt in (False, True):
        fits[learnt] = fit_bodies(body, "coco17", replace(cfg, keypoint_offsets=learnt), joints3d=detected, views=views,
                                  segments=np.arange(len(rows)), init=start, silhouette=SilhouetteTerm(cams, masks, body.faces))  # fmt: skip
    assert fits[False]["keypoint_offsets"] is None and fits[True]["keypoint_offsets"].shape == (17, 3)
    assert np.abs(fits[True]["keypoint_offsets"] - true).max() < 0.01, fits[True]["keypoint_offsets"][[9, 10, 11, 12]]
    drift = {learnt: np.linalg.norm(fit["joints"] - gt[rows], axis=-1)[:, [9, 10, 11, 12]].mean() for learnt, fit in fits.items()}
    assert drift[True] < 0.005 < drift[False], drift  # millimetres with the offsets, centimetres without
    assert np.nanmedian(fits[True]["error_2d_px"]) < np.nanmedian(fits[False]["error_2d_px"])


def test_silhouette_term_at_a_reduced_resolution_measures_in_camera_pixels(body, walk):
    p, out, gt, cams = walk
    rows = np.arange(0, 40, 10)
    start, masks = _shape_start(body, walk, rows)
    with torch.no_grad():
        off = body(f32(start["global_orient"]), f32(start["body_pose"]), None, f32(start["transl"]) + f32([0.03, 0.03, 0.0])).vertices
    costs = []  # the body 4 cm off and too thin: misfits of a few pixels, well above either resolution's rounding
    for max_side in (512, 128):
        term = SilhouetteTerm(cams, masks, body.faces, max_side=max_side)
        term.select(off)
        costs.append(float(term(off)))
    assert term.maps[0].shape[1:] == (128, 128) and costs[0] > 2
    assert abs(costs[1] - costs[0]) < 0.2 * costs[0], costs


def test_fit_stage_refines_a_fit_against_masks(body, walk, tmp_path):
    p, out, gt, cams = walk
    rows = np.arange(0, 12, 3)
    start, masks = _shape_start(body, walk, rows)
    k3, first, mfile = tmp_path / "k3.h5", tmp_path / "fit.h5", tmp_path / "masks.h5"
    with create_stage(k3, KEYPOINTS3D_SCHEMA, 1) as f:
        f.attrs["joint_set"] = "coco17"
        write_cameras(f.create_group("cameras"), cams)
        f.create_dataset("frame_index", data=rows)
        f.create_dataset("joints", data=gt[rows])
    args = ["fit-smpl", "--action", "a", "--keypoints3d", str(k3), "--body-model", body.source, "--params", json.dumps({"iterations": 60})]
    assert main([*args, "--out", str(first)]) == 0
    with create_stage(mfile, MASKS_SCHEMA, 1) as f:
        f.create_dataset("frame_index", data=rows)
        for cam, m in zip(cams, masks):
            f.create_dataset(f"masks/{cam.name}", data=m.astype(np.uint8))
    refined = tmp_path / "refined.h5"
    quick = ["--params", json.dumps({"silhouette_rounds": 1, "silhouette_iterations": 10})]
    assert main([*args, *quick, "--init", str(first), "--masks", str(mfile), "--out", str(refined)]) == 0
    record = read_provenance(refined)
    assert record["params"]["refined"] and str(mfile) in record["inputs"]
    assert read_smpl(refined, "a").body_pose.shape == (4, 69)
    assert main([*args, "--masks", str(mfile), "--out", str(tmp_path / "no_init.h5")]) == 2
    with h5py.File(mfile, "a") as f:
        f["frame_index"][0] = 99
    bad = tmp_path / "bad.h5"
    assert main([*args, "--init", str(first), "--masks", str(mfile), "--out", str(bad)]) == 2
    assert not bad.exists()
