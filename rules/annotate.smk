# COCO, detection-box, HybrIK and 3DMPPE labels from the SMPL bodies that drove the renders.


include: "helpers/annotate.smk"


rule annotate:
    input:
        views=VIEWS,
        render=RENDER,
        body=body_model_path(),
    output:
        directory(LABELS),
    params:
        code=command_digest("annotate"),
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
