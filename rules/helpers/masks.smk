# Helpers of rules/masks.smk: its input functions and parameters.


def subject_masks(subject):
    """The masks settings overlaid with the subject's own (a mixed dataset: provided masks for some, bgsub for others).
    A synthetic subject's only shadow is the renderer's soft blob round the feet, so bgsub may take any change where
    the body above its shins is expected for the person (``underfoot_shadows_only``, unless set); real rooms have
    shadows on walls and furniture, and the fitted body is not that exact."""
    spec = {**config["masks"], **config["subjects"][subject].get("masks", {})}
    if config["subjects"][subject].get("source") == "synthetic":
        spec["bgsub"] = {"underfoot_shadows_only": True, **spec.get("bgsub", {})}
    return spec


def masks_params(wildcards):
    return json.dumps(subject_masks(wildcards.subject), sort_keys=True)


def background_inputs(wildcards):
    """Every action of the subject: a background hidden in one action is often seen in another."""
    return {"captures": of_actions(CAPTURE, wildcards.subject), "frames": of_actions(FRAMES, wildcards.subject)}


def segment_inputs(wildcards):
    uses_background = "bgsub" in subject_masks(wildcards.subject)["method"]  # config/config.yaml always has one
    return {"background": BACKGROUND.format(subject=wildcards.subject)} if uses_background else {}
