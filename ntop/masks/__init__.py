"""Foreground masks without downloaded weights: dataset masks, background subtraction and SMPL-guided refinement."""

from ntop.masks.stage import BACKGROUND_SCHEMA, MASKS_SCHEMA, MasksConfig, frame_ious, model_backgrounds, read_masks, segment

__all__ = ["BACKGROUND_SCHEMA", "MASKS_SCHEMA", "MasksConfig", "frame_ious", "model_backgrounds", "read_masks", "segment"]
