# Helpers of rules/nerf.smk: its input functions and parameters.


def train_actions(subject):
    entry = config["subjects"][subject]
    return entry.get("train_actions", entry["actions"])


def nerf_training_captures(wildcards):
    """capture.h5, frames.h5 and masks.h5 of every training action of the subject."""
    acts = train_actions(wildcards.subject)
    patterns = {"captures": CAPTURE, "frames": FRAMES, "masks": MASKS}
    return {name: of_actions(pattern, wildcards.subject, acts) for name, pattern in patterns.items()}


def nerf_prepare_params(wildcards):
    """ntop.nerf.prepare.PrepareConfig's fields of the nerf section (the rest is training's and evaluation's)."""
    return json.dumps({k: v for k, v in config["nerf"].items() if k not in ("train", "eval", "device") and v is not None}, sort_keys=True)


def nerf_train_params(wildcards):
    return json.dumps({**config["nerf"].get("train", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)


def nerf_eval_params(wildcards):
    return json.dumps({**config["nerf"].get("eval", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)
