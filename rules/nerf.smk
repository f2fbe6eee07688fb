# One human NeRF per subject: prepare its training set, train it (GPU when configured), evaluate it.


include: "helpers/nerf.smk"


rule prepare_nerf:
    input:
        unpack(nerf_training_captures),
        unpack(smpl_inputs),
        unpack(calibration_inputs),
        body=body_model_path(),
    output:
        NERF_DATASET,
    params:
        code=command_digest("prepare-nerf"),
        spec=nerf_prepare_params,
        smpl=optional("smpl", "smpl"),
        cameras=optional("cameras", "calibration"),
        captures=options(capture="captures", frames="frames", masks="masks"),
    threads: 1
    log:
        logs("prepare_nerf", "{subject}.log"),
    benchmark:
        benchmarks("prepare_nerf", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop prepare-nerf --subject {wildcards.subject} {params.captures}"
        " {params.smpl} {params.cameras} --body-model {input.body} --params {params.spec:q} --out {output} > {log} 2>&1"


rule train_nerf:
    input:
        NERF_DATASET,
    output:
        NERF_MODEL,
    params:
        code=command_digest("train-nerf"),
        spec=nerf_train_params,
        workdir=results("nerf", "{subject}", "work"),
    threads: 8
    resources:
        gpu=device_gpus("nerf"),
    log:
        logs("train_nerf", "{subject}.log"),
    benchmark:
        benchmarks("train_nerf", "{subject}.tsv")
    conda:
        device_env("nerf")
    shell:
        "OMP_NUM_THREADS={threads} ntop train-nerf --dataset {input} --out {output} --workdir {params.workdir} --threads {threads}"
        " --params {params.spec:q} > {log} 2>&1"


rule eval_nerf:
    input:
        dataset=NERF_DATASET,
        model=NERF_MODEL,
    output:
        report=NERF_EVAL,
        sheet=report(
            results("nerf", "{subject}", "eval.png"),
            caption="../workflow/report/eval_nerf.rst",
            category="NeRF",
            labels={"subject": "{subject}"},
        ),
    params:
        code=command_digest("eval-nerf"),
        spec=nerf_eval_params,
    threads: 8
    resources:
        gpu=device_gpus("nerf"),
    log:
        logs("eval_nerf", "{subject}.log"),
    benchmark:
        benchmarks("eval_nerf", "{subject}.tsv")
    conda:
        device_env("nerf")
    shell:
        "OMP_NUM_THREADS={threads} ntop eval-nerf --dataset {input.dataset} --model {input.model} --out-json {output.report}"
        " --out-sheet {output.sheet} --threads {threads} --params {params.spec:q} > {log} 2>&1"
