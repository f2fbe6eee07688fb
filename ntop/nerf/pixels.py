"""Which pixels a training step learns from: every (camera, frame) of the training cameras, drawn
where the information is (the body, its silhouette edge, then the body's box), plus square patches
for the structural loss."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ntop.nerf.prepare import NerfDataset

__all__ = ["RaySampler"]


class RaySampler:
    """Training rays from every (camera, frame) of the training cameras, biased to the body.

    Cameras of different sizes (a rig's 1080- and 1088-pixel-wide videos) share one grid of the largest
    size; a camera's pixels beyond its own size are never sampled."""

    def __init__(self, ds: NerfDataset, device: torch.device, seed: int):
        cams = [ds.cameras[n] for n in ds.train_cameras]
        self.H, self.W, self.T, self.C = max(c.height for c in cams), max(c.width for c in cams), ds.num_frames, len(cams)
        self.device = device
        self.rng = np.random.default_rng(seed)
        dirs, origins = [], []
        for cam in cams:
            o, d, _ = cam.world_rays(cam.pixel_grid())
            dirs.append(torch.as_tensor(self._padded(d, 0), dtype=torch.float32).reshape(-1, 3))
            origins.append(torch.as_tensor(cam.center, dtype=torch.float32))
        self.dirs = torch.stack(dirs).to(device)  # (C, H*W, 3)
        self.origins = torch.stack(origins).to(device)  # (C, 3)
        images = np.stack([self._padded(ds.images[n], 1) for n in ds.train_cameras])
        self.images = torch.as_tensor(images).to(device)  # (C, T, H, W, 3)
        self.masks = torch.as_tensor(np.stack([self._padded(ds.masks[n], 1) for n in ds.train_cameras])).to(device)
        pools: dict[str, list[np.ndarray]] = {"body": [], "edge": [], "box": []}
        self.boxes = np.zeros((self.C, self.T, 4), np.int64)  # x0, y0, x1, y1 of the dilated mask
        k3, k7 = np.ones((7, 7), np.uint8), np.ones((15, 15), np.uint8)
        for c, name in enumerate(ds.train_cameras):
            h, w = cams[c].height, cams[c].width
            inside = self._padded(np.ones((h, w), np.uint8), 0)
            for t in range(self.T):
                m = self._padded(ds.masks[name][t], 0).astype(np.uint8)
                base = (c * self.T + t) * self.H * self.W
                grown, wide, shrunk = cv2.dilate(m, k3) & inside, cv2.dilate(m, k7) & inside, cv2.erode(m, k3)
                pools["body"].append(base + np.flatnonzero(grown))
                pools["edge"].append(base + np.flatnonzero(wide & ~shrunk))
                ys, xs = np.nonzero(wide) if wide.any() else (np.array([0, h - 1]), np.array([0, w - 1]))
                x0, y0 = max(xs.min() - 16, 0), max(ys.min() - 16, 0)
                x1, y1 = min(xs.max() + 16, w - 1), min(ys.max() + 16, h - 1)
                self.boxes[c, t] = (x0, y0, x1, y1)
                yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
                pools["box"].append(base + (yy * self.W + xx).reshape(-1))
        self.pools = {k: np.concatenate(v) for k, v in pools.items()}

    def _padded(self, a: np.ndarray, axis: int) -> np.ndarray:
        """``a`` with its image axes (``axis``, ``axis + 1``) padded at the bottom and right to the shared grid."""
        pad = [(0, 0)] * a.ndim
        pad[axis], pad[axis + 1] = (0, self.H - a.shape[axis]), (0, self.W - a.shape[axis + 1])
        return np.pad(a, pad)

    def _gather(self, ids: np.ndarray) -> dict[str, torch.Tensor]:
        ids_t = torch.as_tensor(ids, device=self.device)
        pix = ids_t % (self.H * self.W)
        ct = ids_t // (self.H * self.W)
        c, t = ct // self.T, ct % self.T
        y, x = pix // self.W, pix % self.W
        return {
            "origins": self.origins[c],
            "dirs": self.dirs[c, pix],
            "frame": t,
            "rgb": self.images[c, t, y, x].float() / 255,
            "mask": self.masks[c, t, y, x].float(),
        }

    def rays(self, n: int) -> dict[str, torch.Tensor]:
        counts = {"body": n // 2, "edge": n // 4}
        counts["box"] = n - counts["body"] - counts["edge"]
        ids = np.concatenate([self.pools[k][self.rng.integers(0, len(self.pools[k]), m)] for k, m in counts.items()])
        return self._gather(ids)

    def patches(self, count: int, size: int) -> dict[str, torch.Tensor]:
        ids = []
        for _ in range(count):
            c, t = self.rng.integers(self.C), self.rng.integers(self.T)
            x0, y0, x1, y1 = self.boxes[c, t]
            x = self.rng.integers(x0, max(x1 - size + 1, x0 + 1))
            y = self.rng.integers(y0, max(y1 - size + 1, y0 + 1))
            x, y = min(x, self.W - size), min(y, self.H - size)
            yy, xx = np.mgrid[y : y + size, x : x + size]
            ids.append((c * self.T + t) * self.H * self.W + (yy * self.W + xx).reshape(-1))
        return self._gather(np.concatenate(ids))
