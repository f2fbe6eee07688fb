# SMPL bodies from keypoints (subjects with `smpl: fit`): one job per subject, one shape for all its actions.


rule fit_smpl:
    input:
        unpack(fit_inputs),
        body=body_model_path(),
    output:
        smpl=results("fit", "{subject}", "smpl.h5"),
        easymocap=directory(results("fit", "{subject}", "easymocap")),
    params:
        code=code_digest("ntop.fit.stage"),
        spec=fit_params,
        args=fit_args,
    threads: 2
    resources:
        gpu=fit_gpus(),
    log:
        logs("fit_smpl", "{subject}.log"),
    benchmark:
        benchmarks("fit_smpl", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop fit-smpl --subject {wildcards.subject} {params.args} --body-model {input.body}"
        " --params {params.spec:q} --out {output.smpl} --easymocap {output.easymocap} --threads {threads} > {log} 2>&1"


# The keypoint fit refined against the foreground masks (subjects with smpl: fit): the masks start
# from the keypoint fit, so this is a second job rather than a term of the first.
rule refine_fit:
    input:
        unpack(fit_inputs),
        init=results("fit", "{subject}", "smpl.h5"),
        masks=per_action(results("masks", "{subject}", "{action}", "masks.h5")),
        body=body_model_path(),
    output:
        smpl=results("fit", "{subject}", "refined", "smpl.h5"),
        easymocap=directory(results("fit", "{subject}", "refined", "easymocap")),
    params:
        code=code_digest("ntop.fit.stage"),
        spec=fit_params,
        args=fit_args,
        masks=lambda w, input: " ".join(f"--masks {m}" for m in input.masks),
    threads: 2
    resources:
        gpu=fit_gpus(),
    log:
        logs("refine_fit", "{subject}.log"),
    benchmark:
        benchmarks("refine_fit", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop fit-smpl --subject {wildcards.subject} {params.args} --body-model {input.body}"
        " --init {input.init} {params.masks} --params {params.spec:q} --out {output.smpl} --easymocap {output.easymocap}"
        " --threads {threads} > {log} 2>&1"
