"""Camera models: camera-frame points to pixels, pixels back to unit rays, for every lens ntop uses.

Conventions: the camera frame has x right, y down, z forward; pixel (0, 0) is the *centre* of the
top-left pixel (as in OpenCV); extrinsics map world to camera, ``x_cam = R @ x_world + t`` (metres).

The lenses are the entries of :data:`ntop.cameras.lenses.LENSES` (``python -m ntop.cameras`` prints
them with their distortion parameters and image-radius mappings). A point outside a model's field of
view is reported invalid instead of being wrapped around. The field of view is the smaller of the
model's own limit (where the mapping stops being one-to-one) and the camera's ``fov_deg`` when set.
"""

from ntop.cameras.camera import Camera, look_at
from ntop.cameras.lenses import FISHEYE_MODELS, LENSES
from ntop.cameras.projection import DEFAULT_FOV_DEG, MODELS, CameraError, max_incidence, project, unproject

__all__ = [
    "LENSES",
    "FISHEYE_MODELS",
    "MODELS",
    "DEFAULT_FOV_DEG",
    "Camera",
    "CameraError",
    "look_at",
    "project",
    "unproject",
    "max_incidence",
]
