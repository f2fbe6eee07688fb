"""Reference projections for the label check, written apart from ``ntop.cameras``.

The labels are projected by ``ntop.cameras``; checking them with the same code would prove nothing.
Here every lens model has a second implementation: OpenCV where it has the model (pinhole with
distortion, Kannala-Brandt, the equidistant fisheye as Kannala-Brandt without distortion), otherwise
the published mapping written again in plain numpy: equisolid ``r = 2 f sin(theta/2)``, stereographic
``r = 2 f tan(theta/2)``, orthographic ``r = f sin(theta)`` (e.g. Kannala & Brandt 2006, table 1),
and the double sphere model (Usenko, Demmel & Cremers 2018, eq. 40-45).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["REFERENCES", "reference_project"]


def _opencv_pinhole(points: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    return cv2.projectPoints(points[:, None], np.zeros(3), np.zeros(3), _matrix(K), np.asarray(dist, dtype=np.float64))[0][:, 0]


def _opencv_fisheye(points: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    D = np.asarray(dist, dtype=np.float64) if len(dist) else np.zeros(4)
    return cv2.fisheye.projectPoints(points[:, None], np.zeros(3), np.zeros(3), _matrix(K), D)[0][:, 0]


def _radial(mapping: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A central projection whose image radius (in focal lengths) is ``mapping(theta)``."""

    def project(points: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
        x, y, z = points.T
        rho = np.hypot(x, y)
        theta = np.arctan2(rho, z)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(rho > 0, np.stack([x, y]) / rho, 0.0)
        r = mapping(theta)
        return np.stack([K[0] * r * unit[0] + K[2], K[1] * r * unit[1] + K[3]], 1)

    return project


def _double_sphere(points: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    xi, alpha = dist
    x, y, z = points.T
    d1 = np.sqrt(x * x + y * y + z * z)
    d2 = np.sqrt(x * x + y * y + (xi * d1 + z) ** 2)
    denominator = alpha * d2 + (1 - alpha) * (xi * d1 + z)
    return np.stack([K[0] * x / denominator + K[2], K[1] * y / denominator + K[3]], 1)


def _matrix(K: np.ndarray) -> np.ndarray:
    return np.array([[K[0], 0.0, K[2]], [0.0, K[1], K[3]], [0.0, 0.0, 1.0]])


#: the second implementation of every lens model ``ntop.cameras`` knows, and where it comes from
REFERENCES: dict[str, tuple[Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], str]] = {
    "pinhole": (_opencv_pinhole, "cv2.projectPoints"),
    "opencv_fisheye": (_opencv_fisheye, "cv2.fisheye.projectPoints"),
    "equidistant": (_opencv_fisheye, "cv2.fisheye.projectPoints (no distortion)"),
    "equisolid": (_radial(lambda t: 2 * np.sin(t / 2)), "r = 2 f sin(theta/2), numpy"),
    "stereographic": (_radial(lambda t: 2 * np.tan(t / 2)), "r = 2 f tan(theta/2), numpy"),
    "orthographic": (_radial(np.sin), "r = f sin(theta), numpy"),
    "double_sphere": (_double_sphere, "Usenko et al. 2018, numpy"),
}


def reference_project(model: str, points_cam: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Pixels ``(N, 2)`` of camera-frame points ``(N, 3)`` (in front of the lens, inside its field of view)."""
    if model not in REFERENCES:
        raise KeyError(f"no reference projection for camera model {model!r}")
    return REFERENCES[model][0](
        np.asarray(points_cam, dtype=np.float64), np.asarray(K, dtype=np.float64), np.asarray(dist, dtype=np.float64)
    )
