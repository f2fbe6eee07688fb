"""Quality assurance: every stage measured against ground truth (synthetic) or itself."""
