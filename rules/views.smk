# Virtual top-view fisheye cameras for every rendered frame of a subject/action.


rule plan_views:
    input:
        unpack(smpl_inputs),
        capture=results("ingest", "{subject}", "{action}", "capture.h5"),
    output:
        results("views", "{subject}", "{action}", "views.h5"),
    params:
        code=code_digest("ntop.views"),
        spec=views_params,
        smpl=smpl_arg,
    log:
        logs("plan_views", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("plan_views", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "ntop plan-views --capture {input.capture} {params.smpl} --params {params.spec:q} --out {output} > {log} 2>&1"
