"""The synthetic demo capture: a body built from Anny phenotypes, motions, room, cameras and complete ground truth."""
