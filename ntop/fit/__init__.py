"""SMPL fitting to keypoints: multi-view, monocular and single images."""
