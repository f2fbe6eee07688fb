import importlib.util
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from ntop.body import JOINT_SETS, BodyModel
from ntop.body.joints import SMPL_PARENTS
from ntop.body.loaders import load_model_file
from ntop.errors import NtopError


@pytest.fixture(scope="module")
def data(body_model_path):
    return load_model_file(body_model_path)


def test_procedural_model_is_a_closed_person_shaped_mesh(data):
    v, f = data["v_template"], data["f"]
    assert 3000 <= len(v) <= 8000
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by exactly two triangles: closed
    assert len(v) - len(counts) + len(f) == 2  # Euler characteristic of a sphere: one piece, no handles
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() > 0  # outward orientation
    height = v[:, 1].max() - v[:, 1].min()
    span = v[:, 0].max() - v[:, 0].min()
    assert 1.6 < height < 1.85 and 1.5 < span < 1.9  # a T-posed adult


def test_procedural_model_has_smpl_format(data):
    assert data["kintree_table"].shape == (2, 24)
    assert tuple(data["kintree_table"][0, 1:]) == SMPL_PARENTS[1:]
    assert data["weights"].shape == (len(data["v_template"]), 24)
    np.testing.assert_allclose(data["weights"].sum(1), 1.0, atol=1e-9)
    assert data["shapedirs"].shape[-1] >= 10 and data["posedirs"].shape[-1] == 207
    np.testing.assert_allclose(data["J_regressor"].sum(1), 1.0, atol=1e-9)
    assert (data["J_regressor"] >= 0).all()
    # each joint's vertices are mostly skinned to that joint or its neighbours
    J = data["J_regressor"] @ data["v_template"]
    assert J[15, 1] > J[12, 1] > J[9, 1] > J[0, 1] > J[4, 1] > J[7, 1]  # head over neck over ... over ankle
    assert J[16, 0] > 0 > J[17, 0]  # the subject's left is +x, as in SMPL


def test_procedural_model_is_deterministic(body_model_path):
    from ntop.body import procedural

    fresh = procedural.build()
    cached = load_model_file(body_model_path)
    for k in ("v_template", "weights", "shapedirs", "J_regressor"):
        np.testing.assert_array_equal(fresh[k], cached[k])


def test_shape_blend_shapes_change_height_girth_and_proportions(body):
    zeros = torch.zeros(1, 3), torch.zeros(1, 69)

    def extent(betas, axis):
        v = body(*zeros, betas=torch.tensor(betas, dtype=torch.float32)[None]).vertices[0]
        return float(v[:, axis].max() - v[:, axis].min())

    base = [0.0] * 10
    for k, axis in ((0, 1), (2, 1), (3, 0), (4, 0)):  # size, leg length -> height; arm length, shoulders -> span
        b = list(base)
        b[k] = 2.0
        assert extent(b, axis) > extent(base, axis) + 0.01, k
    girth = list(base)
    girth[1] = 2.0
    assert extent(girth, 2) > extent(base, 2) + 0.01  # depth of the body grows
    directions = body.smpl.shapedirs.reshape(-1, body.num_betas)
    assert torch.linalg.matrix_rank(directions) == body.num_betas == 10


def test_zero_pose_and_zero_betas_give_the_template(body):
    out = body(torch.zeros(1, 3), torch.zeros(1, 23, 3))
    torch.testing.assert_close(out.vertices[0], body.template, atol=1e-6, rtol=0)


def test_joint_sets_come_from_joints_landmarks_and_regressor(body):
    torch.manual_seed(0)
    out = body(torch.randn(5, 3) * 0.3, torch.randn(5, 69) * 0.2, torch.randn(5, 10), torch.randn(5, 3))
    for name in ("smpl24", "hybrik29", "coco17", "h36m17"):
        joints = body.joint_set(out, name)
        assert joints.shape == (5, len(JOINT_SETS[name]), 3)
    coco = body.joint_set(out, "coco17")
    torch.testing.assert_close(coco[:, 0], out.vertices[:, body.landmark_ids["nose"]])
    torch.testing.assert_close(coco[:, 5], out.joints[:, 16])  # left shoulder
    h29 = body.joint_set(out, "hybrik29")
    torch.testing.assert_close(h29[:, :24], out.joints)
    # nose in front of the face, left eye on the subject's left
    rest = body(torch.zeros(1, 3), torch.zeros(1, 69))
    c = body.joint_set(rest, "coco17")[0]
    assert c[0, 2] > rest.joints[0, 15, 2] and c[1, 0] > 0 > c[2, 0]


def test_personal_offsets_move_the_surface_and_never_the_joints(body):
    torch.manual_seed(1)
    go, pose, betas, transl = torch.randn(4, 3) * 0.3, torch.randn(4, 69) * 0.2, torch.randn(1, 10), torch.randn(4, 3)
    offsets = torch.randn(body.num_vertices, 3) * 0.02
    bare, dressed = body(go, pose, betas, transl), body(go, pose, betas, transl, offsets)
    for name in ("smpl24", "hybrik29", "coco17", "h36m17"):
        torch.testing.assert_close(body.joint_set(dressed, name), body.joint_set(bare, name))
    torch.testing.assert_close(dressed.bare_vertices, bare.vertices, atol=1e-6, rtol=0)
    # in the rest pose the offsets are added as they are; turned as a whole, they turn with the body
    rest = body(torch.zeros(1, 3), torch.zeros(1, 69), betas, None, offsets)
    torch.testing.assert_close(rest.vertices[0], body.shaped(betas)[0][0] + offsets, atol=1e-6, rtol=0)
    turn = torch.tensor([[0.0, 0.0, np.pi / 2]])
    turned = body(turn, torch.zeros(1, 69), betas, None, offsets)
    R = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(turned.offsets[0], offsets @ R.T, atol=1e-6, rtol=0)
    # pose() reads a sequence's parameters, offsets included
    seq = {"global_orient": go.numpy(), "body_pose": pose.numpy(), "transl": transl.numpy(), "betas": betas[0].numpy()}
    torch.testing.assert_close(body.pose({**seq, "offsets": offsets.numpy()}).vertices, dressed.vertices)
    torch.testing.assert_close(body.pose(seq).vertices, bare.vertices)


def _official_layout_pickle(data, path):
    """An SMPL .pkl as the official release has it: Python-2 era chumpy arrays and a scipy CSC regressor."""
    V = 6890
    pad = V - len(data["v_template"])
    padded = {
        "v_template": np.concatenate([data["v_template"], np.repeat(data["v_template"][:1], pad, 0)]),
        "weights": np.concatenate([data["weights"], np.repeat(data["weights"][:1], pad, 0)]),
        "shapedirs": np.concatenate([data["shapedirs"], np.zeros((pad, 3, 10))]),
        "posedirs": np.concatenate([data["posedirs"], np.zeros((pad, 3, 207))]),
        "J_regressor": np.concatenate([data["J_regressor"], np.zeros((24, pad))], 1),
    }
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")
    sparse_csc = types.ModuleType("scipy.sparse.csc")

    class Ch:  # what chumpy pickles: an object whose state holds the array in 'x'
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    class csc_matrix:  # old scipy's pickled CSC matrix state
        def __init__(self, dense):
            rows, cols = np.nonzero(dense.T)
            self.data = dense.T[rows, cols]
            self.indices = cols
            self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[1]))])
            self._shape = dense.shape
            self.maxprint = 50

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    csc_matrix.__module__, csc_matrix.__qualname__ = "scipy.sparse.csc", "csc_matrix"
    chumpy_ch.Ch, sparse_csc.csc_matrix = Ch, csc_matrix
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch", "scipy.sparse.csc")}
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": chumpy_ch, "scipy.sparse.csc": sparse_csc})
    try:
        official = {
            "v_template": Ch(padded["v_template"]),
            "shapedirs": Ch(padded["shapedirs"]),
            "posedirs": Ch(padded["posedirs"]),
            "weights": Ch(padded["weights"]),
            "J_regressor": csc_matrix(padded["J_regressor"]),
            "J": padded["J_regressor"] @ padded["v_template"],
            "f": data["f"].astype(np.uint32),
            "kintree_table": data["kintree_table"].astype(np.int64),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        path.write_bytes(pickle.dumps(official, protocol=2))
    finally:
        for k, mod in saved.items():
            if mod is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = mod
    return padded


def test_official_smpl_pickle_loads_without_chumpy(data, tmp_path):
    assert importlib.util.find_spec("chumpy") is None
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    padded = _official_layout_pickle(data, path)
    loaded = load_model_file(path)
    for key, value in padded.items():
        np.testing.assert_array_equal(loaded[key], value)
    model = BodyModel.from_file(path)  # 6890 vertices: SMPL's own landmark ids apply
    assert model.num_vertices == 6890 and model.landmark_ids["head_top"] == 411
    out = model(torch.zeros(1, 3), torch.zeros(1, 69))
    torch.testing.assert_close(out.vertices[0].double(), torch.as_tensor(padded["v_template"]), atol=1e-6, rtol=0)


def test_bad_model_files_name_the_file_and_field(data, tmp_path):
    missing = tmp_path / "no_weights.npz"
    np.savez(missing, **{k: v for k, v in data.items() if k != "weights"})
    with pytest.raises(NtopError, match=r"no_weights.npz: field 'weights'"):
        load_model_file(missing)
    with pytest.raises(NtopError, match="not found"):
        load_model_file(tmp_path / "absent.pkl")
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(NtopError, match="garbage.pkl: cannot read"):
        load_model_file(garbage)
    no_landmarks = tmp_path / "no_landmarks.npz"
    np.savez(no_landmarks, **{k: v for k, v in data.items() if not k.startswith("landmark")})
    with pytest.raises(NtopError, match="landmark_ids"):
        BodyModel.from_file(no_landmarks)
    with pytest.raises(NtopError, match="unknown joint set"):
        BodyModel(dict(data)).joint_set(None, "mpii")
