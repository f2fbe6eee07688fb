# The dataset: splits by subject, merged annotation files, images, card and manifest.


include: "helpers/assemble.smk"


rule assemble_dataset:
    input:
        unpack(assemble_items),
    output:
        report(
            directory(results("dataset")),
            patterns=["card/{name}.png"],
            caption="../workflow/report/dataset.rst",
            category="Dataset",
        ),
    params:
        code=command_digest("assemble"),
        spec=assemble_params,
        parts=assemble_args,
    threads: 1
    log:
        logs("assemble_dataset.log"),
    benchmark:
        benchmarks("assemble_dataset.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop assemble {params.parts} --params {params.spec:q} --out {output} > {log} 2>&1"
