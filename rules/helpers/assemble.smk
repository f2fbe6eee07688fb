# Helpers of rules/assemble.smk: its input functions and parameters.


def assemble_items(wildcards=None):
    return {"renders": expand_pairs(RENDER), "labels": expand_pairs(LABELS)}


def assemble_args(wildcards, input):
    pairs = subject_actions()
    return " ".join(f"--item {s},{a},{r},{l}" for (s, a), r, l in zip(pairs, input.renders, input.labels))


def assemble_params(wildcards):
    d = config["dataset"]
    spec = {"splits": d["splits"], "images": d.get("images", "copy"), "title": d.get("title", "ntop dataset")}
    return json.dumps({**spec, "config": config}, sort_keys=True)  # the whole config goes into provenance.json
