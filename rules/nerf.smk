# One human NeRF per subject: prepare its training set, train it (GPU when configured), evaluate it.


rule prepare_nerf:
    input:
        unpack(nerf_training_captures),
        unpack(smpl_inputs),
        unpack(calibration_inputs),
        body=body_model_path(),
    output:
        results("nerf", "{subject}", "dataset.h5"),
    params:
        code=code_digest("ntop.nerf.prepare"),
        spec=nerf_prepare_params,
        smpl=smpl_arg,
        cameras=calibration_arg,
        captures=lambda wildcards, input: " ".join(f"--capture {c}" for c in input.captures),
        frames=lambda wildcards, input: " ".join(f"--frames {f}" for f in input.frames),
        masks=lambda wildcards, input: " ".join(f"--masks {m}" for m in input.masks),
    log:
        logs("prepare_nerf", "{subject}.log"),
    benchmark:
        benchmarks("prepare_nerf", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS=1 ntop prepare-nerf --subject {wildcards.subject} {params.captures} {params.frames} {params.masks}"
        " {params.smpl} {params.cameras} --body-model {input.body} --params {params.spec:q} --out {output} > {log} 2>&1"


rule train_nerf:
    input:
        results("nerf", "{subject}", "dataset.h5"),
    output:
        results("nerf", "{subject}", "model.pt"),
    params:
        code=code_digest("ntop.nerf.train", "ntop.nerf.evaluate"),
        spec=nerf_train_params,
        workdir=results("nerf", "{subject}", "work"),
    threads: 8
    resources:
        gpu=nerf_gpus(),
    log:
        logs("train_nerf", "{subject}.log"),
    benchmark:
        benchmarks("train_nerf", "{subject}.tsv")
    conda:
        device_env("nerf")
    shell:
        "ntop train-nerf --dataset {input} --out {output} --workdir {params.workdir} --threads {threads}"
        " --params {params.spec:q} > {log} 2>&1"


rule eval_nerf:
    input:
        dataset=results("nerf", "{subject}", "dataset.h5"),
        model=results("nerf", "{subject}", "model.pt"),
    output:
        report=results("nerf", "{subject}", "eval.json"),
        sheet=report(
            results("nerf", "{subject}", "eval.png"),
            caption="../workflow/report/eval_nerf.rst",
            category="NeRF",
            labels={"subject": "{subject}"},
        ),
    params:
        code=code_digest("ntop.nerf.evaluate"),
        spec=nerf_eval_params,
    threads: 8
    resources:
        gpu=nerf_gpus(),
    log:
        logs("eval_nerf", "{subject}.log"),
    benchmark:
        benchmarks("eval_nerf", "{subject}.tsv")
    conda:
        device_env("nerf")
    shell:
        "ntop eval-nerf --dataset {input.dataset} --model {input.model} --out-json {output.report}"
        " --out-sheet {output.sheet} --threads {threads} --params {params.spec:q} > {log} 2>&1"
