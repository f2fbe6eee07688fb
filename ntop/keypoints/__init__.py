"""2D keypoints (detect_keypoints) and robust multi-view triangulation (triangulate)."""
