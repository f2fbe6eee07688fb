"""The onnx backend on models the tests export themselves: blobs of known position must come back.

Each toy model finds coloured blobs: joint j is the blob in colour channel j. The heatmap model
smooths and strides by 4 (heatmap cell i is input pixel 4 i, mmpose's convention); the SimCC model
projects each channel onto the x and y axes and codes them at twice the input resolution.
"""

import h5py
import numpy as np
import pytest
import torch

from ntop.errors import NtopError
from ntop.keypoints.detect import DetectConfig, detect_keypoints
from ntop.keypoints.onnx_pose import OnnxPose, OnnxPoseConfig, crop_transforms

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

IN_W, IN_H = 48, 64


def _gauss(n: int, sigma: float) -> torch.Tensor:
    x = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


class Heatmaps(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = _gauss(9, 3.0)
        self.conv = torch.nn.Conv2d(3, 3, 9, stride=4, padding=4, groups=3, bias=False)
        self.conv.weight.data[:] = (g[:, None] * g[None, :])[None, None]

    def forward(self, x):
        return torch.relu(self.conv(x))


class SimCC(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mx", self._coder(IN_W))
        self.register_buffer("my", self._coder(IN_H))

    @staticmethod
    def _coder(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float32)[:, None]
        k = torch.arange(2 * n, dtype=torch.float32)[None] / 2
        return torch.exp(-((x - k) ** 2) / (2 * 1.5**2))

    def forward(self, x):
        x = torch.relu(x)
        return torch.relu(x.sum(2) @ self.mx) / 10, torch.relu(x.sum(3) @ self.my) / 10


def _export(module: torch.nn.Module, path, outputs) -> str:
    torch.onnx.export(module.eval(), torch.zeros(1, 3, IN_H, IN_W), str(path), input_names=["input"], output_names=outputs,
                      dynamic_axes={"input": {0: "n"}, **{o: {0: "n"} for o in outputs}}, dynamo=False)  # fmt: skip
    return str(path)


def _blob_images(rng, n=5, size=(160, 200)):
    """RGB images with one Gaussian blob per channel at random sub-pixel positions, and those positions."""
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W]
    images, points, boxes = [], [], []
    for _ in range(n):
        centre = rng.uniform([50, 50], [W - 50, H - 50])
        pts = centre + rng.uniform(-30, 30, (3, 2))
        img = np.zeros((H, W, 3))
        for j, (x, y) in enumerate(pts):
            img[..., j] = 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5**2))
        images.append(img.round().astype(np.uint8))
        points.append(pts)
        boxes.append(np.concatenate([pts.min(0) - 15, pts.max(0) + 15]))  # joints lie inside a person box
    return np.stack(images), np.stack(points), np.stack(boxes)


@pytest.mark.parametrize("kind", ["heatmap", "simcc"])
def test_decoding_through_the_crop_lands_on_the_blobs(kind, tmp_path):
    model = Heatmaps() if kind == "heatmap" else SimCC()
    path = _export(model, tmp_path / "pose.onnx", ["heatmaps"] if kind == "heatmap" else ["simcc_x", "simcc_y"])
    pose = OnnxPose(OnnxPoseConfig(model=path, mean=(0, 0, 0), std=(255, 255, 255), box_source=["masks"]))
    assert pose.decoder == kind and pose.size == (IN_W, IN_H)
    images, points, boxes = _blob_images(np.random.default_rng(0))
    uv, conf = pose(images, boxes)
    err = np.linalg.norm(uv - points, axis=-1)
    # one input pixel is ~1.5-3 image pixels here; sub-pixel refinement must beat that
    assert err.max() < 0.75, err
    assert (conf > 0).all()


def test_crop_keeps_the_aspect_ratio_and_centres_the_box():
    A = crop_transforms(np.array([[10.0, 20.0, 30.0, 100.0]]), (IN_W, IN_H), 1.25)
    centre = A[0, :, :2] @ np.array([20.0, 60.0]) + A[0, :, 2]
    assert np.allclose(centre, [IN_W / 2, IN_H / 2]) and np.isclose(A[0, 0, 0], A[0, 1, 1])
    assert np.isclose(80 * 1.25 * A[0, 1, 1], IN_H)  # the box's height (the longer side here) fills the input


def test_onnx_backend_stage_with_boxes_from_masks_and_previous_frame(synthetic_capture, tmp_path):
    root = synthetic_capture(num_frames=3, num_cameras=2, width=96, height=96, seed=2)
    path = _export(Heatmaps(), tmp_path / "pose.onnx", ["heatmaps"])
    for sources in (["masks"], ["previous", "masks"]):
        cfg = DetectConfig.from_dict({"backend": "onnx", "joint_set": "coco17", "onnx": {"model": path, "box_source": sources}})
        summary = detect_keypoints(root / "capture.h5", tmp_path / "k2.h5", cfg, frames=root / "frames.h5", masks=root / "capture.h5")
        assert summary["detected"] == 6
        with h5py.File(tmp_path / "k2.h5") as f, h5py.File(root / "capture.h5") as cap:
            assert f["joints"].shape == (2, 3, 3, 2) and f.attrs["joint_set"] == "coco17"
            m = cap["gt/masks"][0, 0] > 0
            ys, xs = np.nonzero(m)
            if sources == ["masks"]:
                assert np.allclose(f["boxes"][0, 0], [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()])


def test_onnx_backend_errors_name_the_field(tmp_path):
    with pytest.raises(NtopError, match="onnx.model"):
        DetectConfig.from_dict({"backend": "onnx"})
    with pytest.raises(NtopError, match="box_source"):
        DetectConfig.from_dict({"backend": "onnx", "onnx": {"model": "m.onnx", "box_source": ["gt"]}})
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(NtopError, match="not a loadable ONNX model"):
        OnnxPose(OnnxPoseConfig(model=str(tmp_path / "bad.onnx")))
    with pytest.raises(NtopError, match="not found"):
        OnnxPose(OnnxPoseConfig(model=str(tmp_path / "missing.onnx")))


class Detector(torch.nn.Module):
    """A 'detector' that finds the bright pixels' extent: boxes (1, 1, 5) in its input pixels."""

    def forward(self, x):
        m = (x.sum(1)[0] > 0.5).float()  # (H, W)
        xs = torch.arange(m.shape[1], dtype=torch.float32)
        ys = torch.arange(m.shape[0], dtype=torch.float32)
        col, row = m.amax(0), m.amax(1)
        big = 1e4
        x1 = (xs + big * (1 - col)).amin()
        x2 = (xs - big * (1 - col)).amax() + 1
        y1 = (ys + big * (1 - row)).amin()
        y2 = (ys - big * (1 - row)).amax() + 1
        return torch.stack([x1, y1, x2, y2, torch.ones(())]).reshape(1, 1, 5)


def test_person_boxes_from_a_detector_model(tmp_path):
    torch.onnx.export(Detector(), torch.zeros(1, 3, 80, 100), str(tmp_path / "det.onnx"), input_names=["image"], output_names=["dets"], dynamo=False)
    pose_path = _export(Heatmaps(), tmp_path / "pose.onnx", ["heatmaps"])
    pose = OnnxPose(OnnxPoseConfig(model=pose_path, detector=str(tmp_path / "det.onnx"), box_source=["detector"], mean=(0, 0, 0), std=(255, 255, 255)))
    image = np.zeros((160, 200, 3), np.uint8)
    image[40:120, 60:100] = 255  # a 'person' at x 60..100, y 40..120
    box = pose.detect_person(image)
    assert np.allclose(box, [60, 40, 100, 120], atol=2.5)  # the detector's grid is half the image's
