"""``python -m ntop.cameras``: the lens registry as a table (name, distortion parameters, mapping)."""

from ntop.cameras.lenses import LENSES

if __name__ == "__main__":
    for name, entry in LENSES.items():
        fisheye = "fisheye" if entry.fisheye else "capture only"
        print(f"{name:15s} {', '.join(entry.dist) or '(none)':22s} {fisheye:13s} r = {entry.mapping}")
