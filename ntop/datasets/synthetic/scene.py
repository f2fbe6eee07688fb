"""What the synthetic cameras see: a clothed-looking body texture and a static textured room.

The body's colour is a function of its *canonical* surface point (rest pose), so the pattern moves
with the skin as a NeRF expects: shirt stripes, a chest logo, checked trousers, shoes, skin, hair.
The room is an axis-aligned box (world z up, floor at z = 0) hit analytically by each pixel's ray,
so it renders exactly for every camera model; a soft blob shadow follows the subject on the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ntop.cameras import Camera

__all__ = ["Appearance", "Room"]

SKIN, HAIR, SHIRT, TROUSERS, SHOES = range(5)
_SKIN_TONES = np.array([[0.95, 0.80, 0.69], [0.87, 0.68, 0.55], [0.70, 0.50, 0.38], [0.45, 0.31, 0.22]])
_CLOTH = np.array(
    [
        [0.80, 0.15, 0.15],
        [0.15, 0.35, 0.75],
        [0.15, 0.55, 0.25],
        [0.90, 0.75, 0.15],
        [0.55, 0.25, 0.60],
        [0.95, 0.55, 0.15],
        [0.20, 0.65, 0.70],
        [0.85, 0.85, 0.80],
        [0.25, 0.25, 0.30],
    ]
)


_UV_PER_METRE = 0.52  # Anny's (MakeHuman's) layout: median UV edge length over 3D edge length


def _hair(template: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Vertices of the head (mask ``head``) that carry hair: the crown and the back of the skull."""
    y, z = template[head, 1], template[head, 2]
    top, chin, back, front = y.max(), y.min(), z.min(), z.max()
    height, depth = top - chin, front - back
    crown = y > chin + 0.78 * height
    nape = (z < back + 0.45 * depth) & (y > chin + 0.35 * height)
    out = np.zeros(len(template), dtype=bool)
    out[np.flatnonzero(head)[crown | nape]] = True
    return out


@dataclass
class Appearance:
    """Per-vertex regions and colours of one synthetic subject (seeded)."""

    region: np.ndarray  # (V,) int
    base: np.ndarray  # (V, 3) albedo in [0, 1]

    @classmethod
    def create(cls, template: np.ndarray, weights: np.ndarray, seed: int) -> "Appearance":
        """Regions from the dominant skinning joint and the rest-pose position (SMPL frame, y up)."""
        rng = np.random.default_rng(seed)
        joint = weights.argmax(1)
        x, y, z = template.T
        long_sleeves = bool(rng.integers(2))
        region = np.full(len(template), SHIRT)
        region[np.isin(joint, (0, 1, 2, 4, 5))] = TROUSERS
        region[np.isin(joint, (7, 8, 10, 11))] = SHOES
        region[np.isin(joint, (12, 15, 20, 21, 22, 23))] = SKIN
        if not long_sleeves:
            region[np.isin(joint, (18, 19))] = SKIN
        region[_hair(template, joint == 15)] = HAIR
        colours = {
            SKIN: _SKIN_TONES[rng.integers(len(_SKIN_TONES))],
            HAIR: np.array([0.10, 0.07, 0.05]) + rng.uniform(0, 0.3) * np.array([1.0, 0.8, 0.5]),
            SHIRT: _CLOTH[rng.integers(len(_CLOTH))],
            TROUSERS: _CLOTH[rng.integers(len(_CLOTH))] * 0.7,
            SHOES: np.array([0.12, 0.12, 0.14]) + rng.uniform(0, 0.6),
        }
        base = np.stack([colours[r] for r in region])
        return cls(region=region, base=np.clip(base, 0, 1))

    def attributes(self, template: np.ndarray) -> torch.Tensor:
        """Per-vertex attributes to interpolate: albedo (3), canonical xyz (3), region one-hot (5)."""
        onehot = np.eye(5)[self.region]
        return torch.as_tensor(np.concatenate([self.base, template, onehot], 1), dtype=torch.float32)

    @staticmethod
    def shade(attrs: torch.Tensor, uv: torch.Tensor | None = None) -> torch.Tensor:
        """Per-pixel albedo from interpolated attributes ``(..., 11)``: base colour times fine patterns.

        With the body's texture coordinates ``uv (..., 2)`` (Anny's layout) the garments' stripes and
        checks are drawn in UV space, as a texture artist would; without, in canonical space."""
        base, (x, y, z), w = attrs[..., :3], attrs[..., 3:6].unbind(-1), attrs[..., 6:]
        if uv is None:
            stripe_at, (cu, cv, cw) = y, (x, y, z)
        else:
            u, v = (uv / _UV_PER_METRE).unbind(-1)
            stripe_at, (cu, cv, cw) = v + 0.3 * u, (u, v, torch.zeros_like(u))
        stripes = 0.82 + 0.18 * (torch.sin(stripe_at * 2 * np.pi / 0.06) > 0)
        logo = ((x**2 + (y - 0.30) ** 2) < 0.055**2) & (z > 0.03)
        shirt = torch.where(logo, 1.6 - stripes * 0.9, stripes)
        checks = 0.85 + 0.15 * ((torch.floor(cu / 0.04) + torch.floor(cv / 0.04) + torch.floor(cw / 0.04)) % 2)
        skin = 1.0 + 0.04 * torch.sin(x * 90) * torch.sin(y * 70)
        hair = 0.9 + 0.2 * (torch.sin(x * 300 + y * 40) > 0)
        shoes = 0.9 + 0.1 * (torch.sin(z * 150) > 0)
        factor = (
            w[..., SKIN] * skin + w[..., HAIR] * hair + w[..., SHIRT] * shirt + w[..., TROUSERS] * checks + w[..., SHOES] * shoes
        )
        return (base * factor[..., None]).clamp(0, 1)


@dataclass
class Room:
    """A box room (metres, world z up): half-extents in x and y, height; textures seeded."""

    half_x: float = 4.0
    half_y: float = 4.0
    height: float = 3.0
    seed: int = 0

    def render(self, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Colour ``(H, W, 3)``, ray distance ``(H, W)`` and floor-hit xy ``(H, W, 2)`` (NaN off the floor)."""
        origins, dirs, valid = cam.world_rays(cam.pixel_grid())
        lo = np.array([-self.half_x, -self.half_y, 0.0])
        hi = np.array([self.half_x, self.half_y, self.height])
        with np.errstate(divide="ignore", invalid="ignore"):
            t_hi = np.where(dirs > 0, (hi - origins) / dirs, np.where(dirs < 0, (lo - origins) / dirs, np.inf))
        axis = t_hi.argmin(-1)
        t = np.take_along_axis(t_hi, axis[..., None], -1)[..., 0]
        p = origins + t[..., None] * dirs
        side = np.where(np.take_along_axis(dirs, axis[..., None], -1)[..., 0] > 0, 1, 0)
        wall = axis * 2 + side  # 0:-x 1:+x 2:-y 3:+y 4:floor 5:ceiling
        rng = np.random.default_rng(self.seed)
        palette = rng.uniform(0.45, 0.9, (6, 3))
        colour = palette[wall]
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        floor = wall == 4
        tiles = ((np.floor(x / 0.5) + np.floor(y / 0.5)) % 2)[..., None]
        grain = 0.06 * np.sin(x * 60 + 3 * np.sin(y * 7))[..., None]
        colour = np.where(floor[..., None], np.array([0.55, 0.42, 0.30]) * (0.85 + 0.25 * tiles) + grain, colour)
        along = np.where(axis < 1, y, x)  # horizontal coordinate on a wall
        band = (np.abs(z - 1.0) < 0.05)[..., None]
        posters = ((np.floor(along / 0.9) % 3 == 1) & (z > 1.3) & (z < 2.2))[..., None]
        poster_col = rng.uniform(0.1, 0.9, 3) * (0.8 + 0.2 * np.sin(along * 25 + z * 17))[..., None]
        is_wall = (wall < 4)[..., None]
        colour = np.where(is_wall & band, colour * 0.6, colour)
        colour = np.where(is_wall & posters, poster_col, colour)
        colour = colour * (0.75 + 0.25 * np.clip(z / self.height, 0, 1))[..., None]  # light from above
        colour = np.where(valid[..., None], colour, 0.0)
        floor_xy = np.where((floor & valid)[..., None], p[..., :2], np.nan)
        return np.clip(colour, 0, 1), np.where(valid, t, np.inf), floor_xy

    @staticmethod
    def shadow(floor_xy: np.ndarray, centre_xy: np.ndarray, radius: float = 0.35, strength: float = 0.35) -> np.ndarray:
        """Multiplicative soft shadow ``(H, W)`` of a person standing at ``centre_xy``."""
        d2 = np.nansum((floor_xy - centre_xy) ** 2, -1)
        s = 1 - strength * np.exp(-d2 / radius**2)
        return np.where(np.isnan(floor_xy[..., 0]), 1.0, s)
