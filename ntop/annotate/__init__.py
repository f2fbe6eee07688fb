"""Labels: visibility, COCO / HybrIK / 3DMPPE writers, naming and assembly."""
