# Helpers of rules/ingest.smk: its input functions and parameters.


def subject_source(wildcards):
    return config["subjects"][wildcards.subject]["source"]


def raw_capture_path(wildcards):
    """Where a subject/action's raw capture lives; synthetic subjects are rendered by the workflow."""
    subject = config["subjects"][wildcards.subject]
    if subject["source"] == "synthetic":
        return f"resources/synthetic/{wildcards.subject}/{wildcards.action}"
    return subject["raw"].format(subject=wildcards.subject, action=wildcards.action)


def raw_capture_input(wildcards):
    """What ingest waits for: the raw capture, or the whole trial folder rule fetch_pose2sim_trial makes
    when the raw capture is a file inside it (one camera of the trial as a video)."""
    path = raw_capture_path(wildcards)
    trial = re.match(r"(resources/pose2sim/[^/]+)/", path)
    return trial.group(1) if trial else path


def synthetic_params(wildcards):
    """Global synthetic settings overlaid with the subject's own (seed, betas, ...), as JSON."""
    merged = dict(config["synthetic"])
    merged.update(config["subjects"][wildcards.subject].get("synthetic", {}))
    return json.dumps(merged, sort_keys=True)


def ingest_params(wildcards):
    """Frame range and format, plus the subject's adapter settings ({subject} and {action} filled in) and
    its cameras' time offsets."""
    subject = config["subjects"][wildcards.subject]
    adapter = subject.get("adapter", {})
    adapter = {k: v.format(subject=wildcards.subject, action=wildcards.action) if isinstance(v, str) else v for k, v in adapter.items()}
    return json.dumps({**config["ingest"], "adapter": adapter, "time_offsets": subject.get("time_offsets", {})}, sort_keys=True)
