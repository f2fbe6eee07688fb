# COCO, detection-box, HybrIK and 3DMPPE labels from the SMPL bodies that drove the renders.


rule annotate:
    input:
        views=results("views", "{subject}", "{action}", "views.h5"),
        render=results("render", "{subject}", "{action}"),
        body=body_model_path(),
    output:
        directory(results("labels", "{subject}", "{action}")),
    params:
        code=code_digest("ntop.annotate.stage"),
        spec=annotate_params,
    threads: 1
    log:
        logs("annotate", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("annotate", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop annotate --views {input.views} --render {input.render} --body-model {input.body}"
        " --params {params.spec:q} --out {output} > {log} 2>&1"
