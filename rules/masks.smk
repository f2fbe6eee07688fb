# Foreground masks: each subject's camera backgrounds (from all its actions), then per-action masks.


include: "helpers/masks.smk"


rule background:
    input:
        unpack(background_inputs),
        unpack(prior_smpl_inputs),
        unpack(calibration_inputs),
        body=body_model_path(),
    output:
        BACKGROUND,
    params:
        code=command_digest("background"),
        spec=masks_params,
        smpl=optional("smpl", "smpl"),
        cameras=optional("cameras", "calibration"),
        captures=options(capture="captures", frames="frames"),
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
        capture=CAPTURE,
        frames=FRAMES,
        body=body_model_path(),
    output:
        masks=MASKS,
        preview=report(
            results("masks", "{subject}", "{action}", "preview.png"),
            caption="../workflow/report/segment.rst",
            category="Masks",
            labels={"subject": "{subject}", "action": "{action}"},
        ),
    params:
        code=command_digest("segment"),
        spec=masks_params,
        smpl=optional("smpl", "smpl"),
        cameras=optional("cameras", "calibration"),
        background=optional("background", "background"),
    threads: 2
    log:
        logs("segment", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("segment", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop segment --capture {input.capture} --frames {input.frames} {params.background}"
        " {params.smpl} {params.cameras} --body-model {input.body} --params {params.spec:q} --threads {threads}"
        " --out {output.masks} --preview {output.preview} > {log} 2>&1"
