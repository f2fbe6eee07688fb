# Every planned view rendered with the subject's NeRF (GPU when configured; resumes after interruption).


rule render_fisheye:
    input:
        model=results("nerf", "{subject}", "model.pt"),
        views=results("views", "{subject}", "{action}", "views.h5"),
        body=body_model_path(),
    output:
        directory(results("render", "{subject}", "{action}")),
    params:
        code=code_digest("ntop.fisheye"),
        spec=render_params,
    threads: 8
    resources:
        gpu=render_gpus(),
    log:
        logs("render_fisheye", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("render_fisheye", "{subject}", "{action}.tsv")
    conda:
        device_env("render")
    shell:
        "ntop render-fisheye --model {input.model} --views {input.views} --body-model {input.body}"
        " --params {params.spec:q} --out {output} --threads {threads} > {log} 2>&1"
