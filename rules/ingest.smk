# Raw captures -> canonical capture (capture.h5 + frames.h5). The synthetic demo renders its raw capture first.


include: "helpers/ingest.smk"


rule build_body_model:
    output:
        "resources/body_model/{kind}_smpl.npz",
    wildcard_constraints:
        kind="anny|procedural",
    params:
        code=command_digest("body-model"),
        components=config["body_model"].get("components", 10),
    threads: 2
    log:
        logs("build_body_model", "{kind}.log"),
    benchmark:
        benchmarks("build_body_model", "{kind}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop body-model --kind {wildcards.kind} --components {params.components} --out {output} > {log} 2>&1"


rule fetch_pose2sim_trial:
    output:
        directory("resources/pose2sim/{trial}"),
    localrule: True
    threads: 1
    log:
        logs("fetch_pose2sim_trial", "{trial}.log"),
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop fetch-trial --trial {wildcards.trial} --out {output} > {log} 2>&1"


rule synthesize_capture:
    input:
        body=body_model_path(),
    output:
        directory("resources/synthetic/{subject}/{action}"),
    params:
        code=command_digest("synthesize"),
        spec=synthetic_params,
    threads: 1
    log:
        logs("synthesize_capture", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("synthesize_capture", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop synthesize --body-model {input.body} --subject {wildcards.subject}"
        " --action {wildcards.action} --params {params.spec:q} --out {output} > {log} 2>&1"


rule ingest:
    input:
        raw=raw_capture_input,
        body=body_model_path(),
    output:
        capture=CAPTURE,
        frames=FRAMES,
    params:
        code=command_digest("ingest"),
        source=subject_source,
        raw=raw_capture_path,
        spec=ingest_params,
    threads: 1
    log:
        logs("ingest", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("ingest", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop ingest --source {params.source} --raw {params.raw} --subject {wildcards.subject}"
        " --action {wildcards.action} --params {params.spec:q} --body-model {input.body} --capture {output.capture}"
        " --frames {output.frames} > {log} 2>&1"
