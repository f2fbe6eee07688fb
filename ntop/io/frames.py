"""Frames in and out: videos and image folders through OpenCV, and the encoded frame store ``frames.h5``.

Frames are RGB ``uint8 (H, W, 3)`` everywhere in ntop; OpenCV's BGR stays inside this module.
``frames.h5`` keeps each frame losslessly encoded (PNG by default) as one variable-length record per
(camera, frame), so that a capture of millions of frames is one file with random access by index.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # decoder chatter (ffmpeg's, OpenCV's) would bury
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # ntop's one-line errors about the same file
import cv2  # noqa: E402 - after the log levels, which OpenCV reads when it first logs
import h5py
import numpy as np

from ntop.errors import NtopError

__all__ = [
    "IMAGE_SUFFIXES",
    "read_video",
    "video_fps",
    "write_video",
    "read_image",
    "read_image_files",
    "read_image_folder",
    "read_frames",
    "write_image",
    "write_image_folder",
    "count_frames",
    "encode_image",
    "decode_image",
    "FrameStore",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _open_video(path: Path) -> cv2.VideoCapture:
    """cv2.VideoCapture with C-level stderr silenced: OpenCV's own AVI parser prints to it directly
    on a damaged file, which the caller reports in one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        return cv2.VideoCapture(str(path))
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames of a video (decoded, not the container's claim) or images in a folder."""
    path = Path(path)
    if path.is_dir():
        return len(_image_files(path))
    decoded = sum(1 for _ in read_video(path))
    cap = _open_video(path)
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if decoded == 0 or decoded < declared - 1:  # headers may round by one; more is damage
        raise NtopError(
            f"only {decoded} of the {declared} frames its header declares can be decoded (truncated or damaged)", path, "frames"
        )
    return decoded


def video_fps(path: str | os.PathLike, default: float = 25.0) -> float:
    """The frame rate a video file declares (``default`` for image folders or when it declares none)."""
    if not Path(path).is_file():
        return default
    cap = _open_video(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    return fps or default


def read_video(path: str | os.PathLike, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for the wanted frame indices (all when None), decoding sequentially."""
    path = Path(path)
    if not path.is_file():
        raise NtopError("video not found", path)
    cap = _open_video(path)
    if not cap.isOpened():
        raise NtopError("cannot open video (corrupt or unsupported codec)", path)
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    try:
        i = 0
        pending = iter(wanted) if wanted is not None else None
        target = next(pending, None) if pending is not None else 0
        while target is not None:
            ok, frame = cap.read()
            if not ok:
                if wanted is None:
                    return
                raise NtopError(f"video ends after {i} frames; frame {target} is missing (truncated?)", path, "frames")
            if wanted is None or i == target:
                yield i, _rgb(frame)
                target = i + 1 if wanted is None else next(pending, None)
            i += 1
    finally:
        cap.release()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0, quality: int = 95) -> int:
    """Write RGB frames as Motion-JPEG (intra-only: every frame decodes on its own). Returns the count."""
    path = Path(path)
    writer = None
    n = 0
    try:
        for rgb in frames:
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
                if not writer.isOpened():
                    raise NtopError("cannot open video for writing", path)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    return n


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: str | os.PathLike, grey: bool = False) -> np.ndarray:
    """One image file as RGB ``(H, W, 3)``, or as a single channel when ``grey`` (masks)."""
    if not Path(path).is_file():
        raise NtopError("missing", path)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        raise NtopError("unreadable image", path)
    return img if grey else _rgb(img)


def read_image_files(
    files: list[Path], indices: Iterable[int] | None = None, where: str | os.PathLike | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` over a list of image files."""
    for i in range(len(files)) if indices is None else indices:
        if not 0 <= i < len(files):
            raise NtopError(f"frame {i} requested but there are {len(files)} images", where, "frames")
        yield i, read_image(files[i])


def read_image_folder(folder: str | os.PathLike, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` over a folder's images in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NtopError("image folder not found", folder)
    return read_image_files(_image_files(folder), indices, folder)


def write_image(path: str | os.PathLike, rgb: np.ndarray, params: Iterable[int] = ()) -> None:
    """cv2.imwrite of an RGB (or grey) image, which must not fail silently: it returns False on a full disk."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    if not cv2.imwrite(os.fspath(path), bgr, list(params)):
        raise NtopError("cannot write image (is the disk full, or the format unknown?)", path)


def write_image_folder(folder: str | os.PathLike, frames: Iterable[np.ndarray], pattern: str = "{:06d}.png") -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, rgb in enumerate(frames, 1):
        write_image(folder / pattern.format(n - 1), rgb)
    return n


def read_frames(path: str | os.PathLike, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of a video file or of an image folder, whichever ``path`` is."""
    return read_image_folder(path, indices) if Path(path).is_dir() else read_video(path, indices)


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 95) -> np.ndarray:
    """RGB image to encoded bytes (``uint8 (N,)``): png is lossless, jpg takes ``quality``."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1] if fmt == "png" else [cv2.IMWRITE_JPEG_QUALITY, quality]
    ok, buf = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise NtopError(f"cannot encode image as {fmt}")
    return buf.reshape(-1)


def decode_image(buf: np.ndarray) -> np.ndarray:
    img = cv2.imdecode(np.asarray(buf, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise NtopError("undecodable image record")
    return _rgb(img)


class FrameStore:
    """Encoded frames per camera inside an HDF5 group: ``<group>/<camera>`` is a vlen uint8 dataset."""

    def __init__(self, group: h5py.Group):
        self.group = group

    def create(self, camera: str, count: int, fmt: str = "png") -> h5py.Dataset:
        ds = self.group.create_dataset(camera, shape=(count,), dtype=h5py.vlen_dtype(np.uint8))
        ds.attrs["format"] = fmt
        return ds

    def cameras(self) -> list[str]:
        return list(self.group.keys())

    def __len__(self) -> int:
        return len(next(iter(self.group.values()))) if len(self.group) else 0

    def read(self, camera: str, i: int) -> np.ndarray:
        if camera not in self.group:
            raise NtopError("no such camera in the frame store", self.group.file.filename, f"{self.group.name}/{camera}")
        return decode_image(self.group[camera][i])
