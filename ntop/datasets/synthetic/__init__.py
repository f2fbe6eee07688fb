"""The synthetic demo capture: procedural body, motions, room, cameras and complete ground truth."""
