# 2D keypoints -> (calibration) -> robust triangulation, per subject/action (calibration per subject).


rule detect_keypoints:
    input:
        capture=results("ingest", "{subject}", "{action}", "capture.h5"),
        frames=results("ingest", "{subject}", "{action}", "frames.h5"),
    output:
        results("keypoints", "{subject}", "{action}", "keypoints2d.h5"),
    params:
        code=code_digest("ntop.keypoints.detect"),
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
        keypoints=per_action(results("keypoints", "{subject}", "{action}", "keypoints2d.h5")),
        body=body_model_path(),
    output:
        results("calibration", "{subject}", "calibration.h5"),
    params:
        code=code_digest("ntop.keypoints.calibrate"),
        spec=calibration_params,
        args=lambda w, input: " ".join(f"--keypoints2d {p}" for p in input.keypoints),
    threads: 1
    log:
        logs("calibrate", "{subject}.log"),
    benchmark:
        benchmarks("calibrate", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop calibrate {params.args} --body-model {input.body} --params {params.spec:q} --out {output} > {log} 2>&1"


rule triangulate:
    input:
        unpack(triangulation_inputs),
    output:
        results("keypoints", "{subject}", "{action}", "keypoints3d.h5"),
    params:
        code=code_digest("ntop.keypoints.triangulate"),
        spec=lambda w: json.dumps(config["triangulation"], sort_keys=True),
        cameras=lambda w, input: f"--cameras {input.cameras}" if "cameras" in input.keys() else "",
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
