# Virtual top-view fisheye cameras for every rendered frame of a subject/action.


include: "helpers/views.smk"


rule plan_views:
    input:
        unpack(smpl_inputs),
        capture=CAPTURE,
    output:
        VIEWS,
    params:
        code=command_digest("plan-views"),
        spec=views_params,
        smpl=optional("smpl", "smpl"),
    localrule: True
    threads: 1
    log:
        logs("plan_views", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("plan_views", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop plan-views --capture {input.capture} {params.smpl} --params {params.spec:q} --out {output} > {log} 2>&1"
