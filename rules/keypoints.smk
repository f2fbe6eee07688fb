# 2D keypoints -> (calibration) -> robust triangulation, per subject/action (calibration per subject).


include: "helpers/keypoints.smk"


rule detect_keypoints:
    input:
        capture=CAPTURE,
        frames=FRAMES,
    output:
        KEYPOINTS2D,
    params:
        code=command_digest("detect-keypoints"),
        spec=keypoints_params,
        masks=keypoint_masks_arg,
    threads: 1
    resources:
        gpu=keypoints_gpus(),
    log:
        logs("detect_keypoints", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("detect_keypoints", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop detect-keypoints --capture {input.capture} --frames {input.frames} {params.masks}"
        " --params {params.spec:q} --out {output} > {log} 2>&1"


rule calibrate:
    input:
        keypoints2d=per_action(KEYPOINTS2D),
        body=body_model_path(),
    output:
        CALIBRATION,
    params:
        code=command_digest("calibrate"),
        spec=calibration_params,
        keypoints2d=options(keypoints2d="keypoints2d"),
    threads: 1
    log:
        logs("calibrate", "{subject}.log"),
    benchmark:
        benchmarks("calibrate", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop calibrate {params.keypoints2d} --body-model {input.body} --params {params.spec:q}"
        " --out {output} > {log} 2>&1"


rule triangulate:
    input:
        unpack(calibration_inputs),
        keypoints2d=KEYPOINTS2D,
    output:
        KEYPOINTS3D,
    params:
        code=command_digest("triangulate"),
        spec=as_json("triangulation"),
        cameras=optional("cameras", "calibration"),
    localrule: True
    threads: 1
    log:
        logs("triangulate", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("triangulate", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop triangulate --keypoints2d {input.keypoints2d} {params.cameras}"
        " --params {params.spec:q} --out {output} > {log} 2>&1"
