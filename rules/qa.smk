# Ground-truth checks and contact sheets for every stage (`ntop qa ...`).


rule qa_capture:
    input:
        captures=per_action(results("ingest", "{subject}", "{action}", "capture.h5")),
        frames=per_action(results("ingest", "{subject}", "{action}", "frames.h5")),
        body=body_model_path(),
    output:
        report=results("qa", "capture", "{subject}.json"),
        sheet=report(
            results("qa", "capture", "{subject}.png"),
            caption="../workflow/report/qa_capture.rst",
            category="Capture",
            labels={"subject": "{subject}"},
        ),
    params:
        code=code_digest("ntop.qa.capture"),
        strict="--strict" if config["qa"]["strict"] else "",
        captures=lambda w, input: " ".join(f"--capture {c} --frames {f}" for c, f in zip(input.captures, input.frames)),
    threads: 1
    log:
        logs("qa_capture", "{subject}.log"),
    benchmark:
        benchmarks("qa_capture", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa capture {params.captures} --body-model {input.body}"
        " --out-json {output.report} --out-sheet {output.sheet} {params.strict} > {log} 2>&1"


rule qa_labels:
    input:
        views=per_action(results("views", "{subject}", "{action}", "views.h5")),
        renders=per_action(results("render", "{subject}", "{action}")),
        labels=per_action(results("labels", "{subject}", "{action}")),
        body=body_model_path(),
    output:
        results("qa", "labels", "{subject}.json"),
    params:
        code=code_digest("ntop.qa.labels"),
        strict="--strict" if config["qa"]["strict"] else "",
        actions=lambda w, input: " ".join(f"--views {v} --render {r} --labels {l}" for v, r, l in zip(input.views, input.renders, input.labels)),
    threads: 1
    log:
        logs("qa_labels", "{subject}.log"),
    benchmark:
        benchmarks("qa_labels", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa labels {params.actions} --body-model {input.body} --out-json {output} {params.strict} > {log} 2>&1"


rule qa_keypoints:
    input:
        unpack(qa_keypoints_inputs),
    output:
        results("qa", "keypoints", "{subject}", "{action}.json"),
    params:
        code=code_digest("ntop.qa.keypoints"),
        strict="--strict" if config["qa"]["strict"] else "",
        calibration=qa_calibration_args,
    threads: 1
    log:
        logs("qa_keypoints", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("qa_keypoints", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa keypoints --capture {input.capture} --keypoints2d {input.keypoints2d}"
        " --keypoints3d {input.keypoints3d} {params.calibration} --out-json {output} {params.strict} > {log} 2>&1"


rule qa_masks:
    input:
        masks=results("masks", "{subject}", "{action}", "masks.h5"),
        capture=results("ingest", "{subject}", "{action}", "capture.h5"),
    output:
        results("qa", "masks", "{subject}", "{action}.json"),
    params:
        code=code_digest("ntop.qa.masks"),
        strict="--strict" if config["qa"]["strict"] else "",
    threads: 1
    log:
        logs("qa_masks", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("qa_masks", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa masks --masks {input.masks} --capture {input.capture}"
        " --out-json {output} {params.strict} > {log} 2>&1"


rule qa_fit:
    input:
        unpack(qa_fit_evidence),
        smpl=lambda w: final_fit(w.subject),
        captures=per_action(results("ingest", "{subject}", "{action}", "capture.h5")),
        body=body_model_path(),
    output:
        results("qa", "fit", "{subject}.json"),
    params:
        code=code_digest("ntop.qa.fit"),
        strict="--strict" if config["qa"]["strict"] else "",
        captures=lambda w, input: " ".join(f"--capture {c}" for c in input.captures),
        evidence=qa_fit_evidence_args,
    threads: 1
    log:
        logs("qa_fit", "{subject}.log"),
    benchmark:
        benchmarks("qa_fit", "{subject}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa fit --smpl {input.smpl} {params.captures} {params.evidence} --body-model {input.body}"
        " --out-json {output} {params.strict} > {log} 2>&1"


rule qa_summary:
    input:
        reports=qa_reports(),
    output:
        html=report(results("qa", "summary.html"), caption="../workflow/report/qa_summary.rst", category="QA"),
        tsv=results("qa", "summary.tsv"),
    params:
        code=code_digest("ntop.qa.summary"),
        reports=lambda wildcards, input: " ".join(f"--report {r}" for r in input.reports),
    log:
        logs("qa_summary.log"),
    benchmark:
        benchmarks("qa_summary.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "ntop qa summary {params.reports} --out-html {output.html} --out-tsv {output.tsv} > {log} 2>&1"
