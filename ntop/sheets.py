"""Contact sheets a person can look at: frames in a grid with skeletons and mask outlines drawn on."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_skeleton", "draw_mask_outline", "label", "grid", "bar_chart"]

VIS_COLOURS = {2: (40, 220, 60), 1: (255, 150, 0)}  # RGB: visible green, self-occluded orange


def draw_skeleton(
    img: np.ndarray, uv: np.ndarray, vis: np.ndarray, edges: tuple[tuple[int, int], ...], radius: int = 2
) -> np.ndarray:
    """Draw joints (coloured by visibility code) and the bones between labelled joints, in place."""
    pts = np.rint(uv).astype(int)
    for a, b in edges:
        if vis[a] > 0 and vis[b] > 0:
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), (230, 230, 230), 1, cv2.LINE_AA)
    for p, v in zip(pts, vis):
        if v > 0:
            cv2.circle(img, tuple(p), radius, VIS_COLOURS[int(v)], -1, cv2.LINE_AA)
    return img


def draw_mask_outline(img: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 230, 0)) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(img, contours, -1, colour, 1)
    return img


def label(img: np.ndarray, text: str, tile_size: int = 256) -> np.ndarray:
    """White text on a black box in the top-left corner (an outline of the glyphs smudges small text),
    sized so that it reads the same once ``grid`` has shrunk the image into its ``tile_size`` tile."""
    k = max(1.0, max(img.shape[:2]) / tile_size)
    scale, thickness, pad = 0.4 * k, max(1, round(0.6 * k)), round(3 * k)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(img, (0, 0), (w + 2 * pad, h + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(img, text, (pad, h + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return img


def grid(tiles: list[np.ndarray], cols: int, tile_size: int = 256) -> np.ndarray:
    """Tiles (RGB) scaled to fit ``tile_size`` and laid out row by row; empty cells are black."""
    scaled = []
    for t in tiles:
        s = tile_size / max(t.shape[:2])
        t = cv2.resize(t, (round(t.shape[1] * s), round(t.shape[0] * s)), interpolation=cv2.INTER_AREA) if s < 1 else t
        canvas = np.zeros((tile_size, tile_size, 3), np.uint8)
        canvas[: t.shape[0], : t.shape[1]] = t
        scaled.append(canvas)
    while len(scaled) % cols:
        scaled.append(np.zeros_like(scaled[0]))
    rows = [np.concatenate(scaled[i : i + cols], 1) for i in range(0, len(scaled), cols)]
    return np.concatenate(rows, 0)


def bar_chart(values: list[float], labels: list[str], title: str, width: int = 640, height: int = 320) -> np.ndarray:
    """A plain bar chart (RGB) for dataset cards: one bar per label, value printed on top."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, bottom, top = 40, height - 50, 40
    n = max(len(values), 1)
    bar_w = (width - left - 10) / n
    vmax = max(max(values, default=0), 1e-9)
    cv2.putText(img, title, (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (left, bottom), (width - 10, bottom), (0, 0, 0), 1)
    for i, (v, name) in enumerate(zip(values, labels)):
        x0 = int(left + i * bar_w + 2)
        x1 = int(left + (i + 1) * bar_w - 2)
        y = int(bottom - (bottom - top) * v / vmax)
        cv2.rectangle(img, (x0, y), (x1, bottom), (70, 120, 200), -1)
        cv2.putText(img, f"{v:g}", (x0, max(y - 4, top - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, name[:10], (x0, bottom + 14 + 12 * (i % 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return img
