# Every planned view rendered with the subject's NeRF (GPU when configured; resumes after interruption).


rule render_fisheye:
    input:
        model=NERF_MODEL,
        views=VIEWS,
        body=body_model_path(),
    output:
        directory(RENDER),
    params:
        code=command_digest("render-fisheye"),
        spec=as_json("render"),
    threads: 8
    resources:
        gpu=device_gpus("render"),
    log:
        logs("render_fisheye", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("render_fisheye", "{subject}", "{action}.tsv")
    conda:
        device_env("render")
    shell:
        "OMP_NUM_THREADS={threads} ntop render-fisheye --model {input.model} --views {input.views} --body-model {input.body}"
        " --params {params.spec:q} --out {output} --threads {threads} > {log} 2>&1"
