# SMPL bodies from keypoints (subjects with `smpl: fit`): one job per subject, one shape for all its
# actions; then (refine_fit) that fit refined against the foreground masks, which start from it.


include: "helpers/fit.smk"


rule fit_smpl:
    input:
        unpack(fit_inputs),
        body=body_model_path(),
    output:
        smpl=FIT,
        easymocap=directory(results("fit", "{subject}", "easymocap")),
    params:
        code=command_digest("fit-smpl"),
        spec=fit_params,
        args=fit_args,
        refine="",
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
        "OMP_NUM_THREADS={threads} ntop fit-smpl --subject {wildcards.subject} {params.args} {params.refine} --body-model {input.body}"
        " --params {params.spec:q} --out {output.smpl} --easymocap {output.easymocap} --threads {threads} > {log} 2>&1"


use rule fit_smpl as refine_fit with:
    input:
        unpack(refine_inputs),
        init=FIT,
        masks=per_action(MASKS),
        body=body_model_path(),
    output:
        smpl=REFINED_FIT,
        easymocap=directory(results("fit", "{subject}", "refined", "easymocap")),
    params:
        code=command_digest("fit-smpl"),
        spec=fit_params,
        args=fit_args,
        refine=refine_args,
    log:
        logs("refine_fit", "{subject}.log"),
    benchmark:
        benchmarks("refine_fit", "{subject}.tsv")
