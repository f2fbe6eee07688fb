# Helpers of rules/annotate.smk: its input functions and parameters.


def annotate_params(wildcards):
    licence = config["dataset"].get("licence", {"name": "see the source capture's licence", "url": ""})
    return json.dumps({"codes": codes(wildcards), "licence": licence, **config["labels"]}, sort_keys=True)
