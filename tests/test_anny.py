"""Anny converted into SMPL's format: against Anny's own forward, on builds the conversion never saw."""

import numpy as np
import pytest
import torch

from ntop.body import BodyModel
from ntop.body import anny as anny_conv
from ntop.body.joints import COCO17
from ntop.errors import NtopError


@pytest.fixture(scope="module")
def anny():
    return anny_conv.load_anny()


@pytest.fixture(scope="module")
def data(anny):
    return anny_conv.build(components=10, samples=300, seed=0, model=anny)


@pytest.fixture(scope="module")
def model(data):
    return BodyModel(data, dtype=torch.float64)


def _poses(n: int, seed: int) -> np.ndarray:
    """Moderate random poses: every joint turned up to about 25 degrees, the global orientation free."""
    rng = np.random.default_rng(seed)
    pose = rng.normal(0, 0.25, (n, 24, 3))
    pose[:, 0] = rng.normal(0, 1.0, (n, 3))
    return pose


def test_converted_model_has_smpl_format_and_a_t_posed_adult(data):
    assert data["kintree_table"].shape == (2, 24) and data["shapedirs"].shape[1:] == (3, 10)
    np.testing.assert_allclose(data["weights"].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(data["J_regressor"].sum(1), 1.0, atol=1e-6)
    J = data["J_regressor"] @ data["v_template"]
    assert J[15, 1] > J[12, 1] > J[9, 1] > J[0, 1] > J[4, 1] > J[7, 1]  # head over neck over ... over ankle
    for shoulder, elbow, wrist, side in ((16, 18, 20, 1), (17, 19, 21, -1)):  # arms straight out along +-x
        for a, b in ((shoulder, elbow), (elbow, wrist)):
            d = (J[b] - J[a]) / np.linalg.norm(J[b] - J[a])
            assert d[0] * side > 0.99
    v = data["v_template"]
    assert 1.6 < v[:, 1].max() - v[:, 1].min() < 1.9
    assert data["anny_explained_variance"][-1] > 0.999


def test_rest_meshes_of_unseen_adults_within_5_mm(anny, data):
    builds = anny_conv.sample_phenotypes(20, anny_conv.ADULT_AGES, seed=11)
    meshes, _ = anny_conv.posed(anny, builds, data["anny_tpose"][None])
    betas = anny_conv.phenotype_betas([anny_conv.Phenotype(*b) for b in builds], data, model=anny)
    recon = data["v_template"] + np.einsum("vck,bk->bvc", data["shapedirs"], betas)
    assert 1000 * np.linalg.norm(recon - meshes, axis=-1).mean() < 5.0


def test_joints_follow_shape_onto_annys_bones(anny, data, model):
    builds = anny_conv.sample_phenotypes(5, anny_conv.ADULT_AGES, seed=12)
    _, heads = anny_conv.posed(anny, builds, data["anny_tpose"][None])
    betas = anny_conv.phenotype_betas([anny_conv.Phenotype(*b) for b in builds], data, model=anny)
    _, joints = model.shaped(torch.as_tensor(betas))
    anchors = anny_conv.anchor_bones(list(anny.bone_labels))
    expected = np.stack([heads[:, a].mean(1) for a in anchors], 1)
    assert 1000 * np.linalg.norm(joints.numpy() - expected, axis=-1).mean() < 3.0


def test_posed_bodies_match_annys_forward_with_the_same_rotations(anny, data, model):
    build = anny_conv.Phenotype(gender=0.2, age=0.8, muscle=0.7, weight=0.4, height=0.6, proportions=0.3)
    pose = _poses(8, seed=13)
    deltas = anny_conv.anny_deltas(anny, pose, data["anny_tpose"])
    theirs, _ = anny_conv.posed(anny, np.array(build.as_row()), deltas)
    betas = torch.as_tensor(anny_conv.phenotype_betas([build], data, model=anny))
    with torch.no_grad():
        out = model(torch.as_tensor(pose[:, 0]), torch.as_tensor(pose[:, 1:]), betas)
        ours_coco = model.joint_set(out, "coco17").numpy()
    assert 1000 * np.linalg.norm(out.vertices.numpy() - theirs, axis=-1).mean() < 5.0  # posing plus the 10-component shape
    their_coco = anny_conv.keypoint_regressor(anny, list(COCO17.names)) @ theirs
    assert 1000 * np.linalg.norm(ours_coco - their_coco, axis=-1).mean(0).max() < 15.0


def test_regressed_coco_joints_take_the_fast_path_exactly(model):
    pose = torch.as_tensor(_poses(3, seed=14))
    betas = torch.randn(1, 10, dtype=torch.float64)
    with torch.no_grad():
        full = model.joint_set(model(pose[:, 0], pose[:, 1:], betas), "coco17")
        fast = model.joints_only(pose[:, 0], pose[:, 1:], betas, name="coco17")
    torch.testing.assert_close(fast, full)


def test_a_wrongly_shaped_set_regressor_is_one_clear_error(data):
    bad = dict(data, J_regressor_coco17=np.zeros((17, 5)))
    with pytest.raises(NtopError, match="J_regressor_coco17"):
        BodyModel(bad)


def test_phenotypes_are_checked_by_name_and_range():
    assert anny_conv.Phenotype.from_dict({"height": 0.4}).height == 0.4
    with pytest.raises(NtopError, match="unknown phenotype hair"):
        anny_conv.Phenotype.from_dict({"hair": 0.5}, "subjects.demo.synthetic.phenotype")
    with pytest.raises(NtopError, match=r"\[0, 1\]"):
        anny_conv.Phenotype.from_dict({"age": 1.5})


def test_phenotypes_need_the_anny_model(body_model_path):
    with pytest.raises(NtopError, match="kind: anny"):
        anny_conv.phenotype_betas([anny_conv.Phenotype()], dict(np.load(body_model_path)))
