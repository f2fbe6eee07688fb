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
