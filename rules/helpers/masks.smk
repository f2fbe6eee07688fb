# Helpers of rules/masks.smk: its input functions and parameters.


def subject_masks(subject):
    """The masks settings overlaid with the subject's own (a mixed dataset: provided masks for some, bgsub for others)."""
    return {**config["masks"], **config["subjects"][subject].get("masks", {})}


def masks_params(wildcards):
    return json.dumps(subject_masks(wildcards.subject), sort_keys=True)


def background_inputs(wildcards):
    """Every action of the subject: a background hidden in one action is often seen in another."""
    return {"captures": of_actions(CAPTURE, wildcards.subject), "frames": of_actions(FRAMES, wildcards.subject)}


def segment_inputs(wildcards):
    uses_background = "bgsub" in subject_masks(wildcards.subject)["method"]  # config/config.yaml always has one
    return {"background": BACKGROUND.format(subject=wildcards.subject)} if uses_background else {}
