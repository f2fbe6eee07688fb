"""Stage files (HDF5 + provenance, atomic writes) and frame I/O; the only way ntop touches disk."""

from ntop.io.frames import (
    FrameStore,
    count_frames,
    decode_image,
    encode_image,
    read_frames,
    read_image_folder,
    read_video,
    write_image_folder,
    write_video,
)
from ntop.io.stagefile import (
    atomic_path,
    create_stage,
    file_digest,
    open_stage,
    provenance_record,
    read_cameras,
    read_provenance,
    require,
    write_cameras,
    write_json,
)

__all__ = [
    "FrameStore",
    "atomic_path",
    "count_frames",
    "read_frames",
    "create_stage",
    "decode_image",
    "encode_image",
    "file_digest",
    "open_stage",
    "provenance_record",
    "read_cameras",
    "read_image_folder",
    "read_provenance",
    "read_video",
    "require",
    "write_cameras",
    "write_image_folder",
    "write_json",
    "write_video",
]
