# Helpers of rules/views.smk: its input functions and parameters.


def views_params(wildcards):
    return json.dumps({**config["views"], "codes": codes(wildcards)}, sort_keys=True)
