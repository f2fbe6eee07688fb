# Helpers of rules/annotate.smk: its input functions and parameters.


def annotate_params(wildcards):
    return json.dumps({"codes": codes(wildcards), "licence": config["dataset"]["licence"], **config["labels"]}, sort_keys=True)
