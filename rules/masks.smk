# Foreground masks: each subject's camera backgrounds (from all its actions), then per-action masks.


rule background:
    input:
        unpack(background_inputs),
        unpack(prior_smpl_inputs),
        unpack(calibration_inputs),
        body=body_model_path(),
    output:
        results("masks", "{subject}", "background.h5"),
    params:
        code=code_digest("ntop.masks.stage"),
        spec=masks_params,
        smpl=smpl_arg,
        cameras=calibration_arg,
        captures=lambda wildcards, input: " ".join(f"--capture {c} --frames {f}" for c, f in zip(input.captures, input.frames)),
    threads: 1
    log:
        logs("background", "{subject}.log"),
    benchmark:
        benchmarks("background", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop background {params.captures} {params.smpl} {params.cameras} --body-model {input.body}"
        " --params {params.spec:q} --out {output} > {log} 2>&1"


rule segment:
    input:
        unpack(segment_inputs),
        unpack(prior_smpl_inputs),
        unpack(calibration_inputs),
        capture=results("ingest", "{subject}", "{action}", "capture.h5"),
        frames=results("ingest", "{subject}", "{action}", "frames.h5"),
        body=body_model_path(),
    output:
        masks=results("masks", "{subject}", "{action}", "masks.h5"),
        preview=report(
            results("masks", "{subject}", "{action}", "preview.png"),
            caption="../workflow/report/segment.rst",
            category="Masks",
            labels={"subject": "{subject}", "action": "{action}"},
        ),
    params:
        code=code_digest("ntop.masks.stage"),
        spec=masks_params,
        smpl=smpl_arg,
        cameras=calibration_arg,
        background=lambda wildcards, input: f"--background {input.background}" if "background" in input.keys() else "",
    threads: 2
    log:
        logs("segment", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("segment", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS=1 ntop segment --capture {input.capture} --frames {input.frames} {params.background}"
        " {params.smpl} {params.cameras} --body-model {input.body} --params {params.spec:q} --threads {threads}"
        " --out {output.masks} --preview {output.preview} > {log} 2>&1"
