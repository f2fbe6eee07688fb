# Ground-truth checks and contact sheets for every stage (`ntop qa ...`), and the summary of them all.


include: "helpers/qa.smk"


rule qa_capture:
    input:
        captures=per_action(CAPTURE),
        frames=per_action(FRAMES),
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
        code=command_digest("qa capture"),
        strict=STRICT,
        captures=options(capture="captures", frames="frames"),
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
        views=per_action(VIEWS),
        renders=per_action(RENDER),
        labels=per_action(LABELS),
        body=body_model_path(),
    output:
        results("qa", "labels", "{subject}.json"),
    params:
        code=command_digest("qa labels"),
        strict=STRICT,
        actions=options(views="views", render="renders", labels="labels"),
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
        code=command_digest("qa keypoints"),
        strict=STRICT,
        calibration=qa_calibration_args,
    localrule: True
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
        masks=MASKS,
        capture=CAPTURE,
        keypoints3d=KEYPOINTS3D,
    output:
        report=results("qa", "masks", "{subject}", "{action}.json"),
        sheet=report(
            results("qa", "masks", "{subject}", "{action}.png"),
            caption="../workflow/report/qa_masks.rst",
            category="Masks QA",
            labels={"subject": "{subject}", "action": "{action}"},
        ),
    params:
        code=command_digest("qa masks"),
        strict=STRICT,
    localrule: True
    threads: 1
    log:
        logs("qa_masks", "{subject}", "{action}.log"),
    benchmark:
        benchmarks("qa_masks", "{subject}", "{action}.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa masks --masks {input.masks} --capture {input.capture}"
        " --keypoints3d {input.keypoints3d} --out-json {output.report} --out-sheet {output.sheet} {params.strict} > {log} 2>&1"


rule qa_fit:
    input:
        unpack(qa_fit_evidence),
        smpl=final_fit_input,
        captures=per_action(CAPTURE),
        body=body_model_path(),
    output:
        results("qa", "fit", "{subject}.json"),
    params:
        code=command_digest("qa fit"),
        strict=STRICT,
        captures=options(capture="captures"),
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
        code=command_digest("qa summary"),
        reports=options(report="reports"),
    localrule: True
    threads: 1
    log:
        logs("qa_summary.log"),
    benchmark:
        benchmarks("qa_summary.tsv")
    conda:
        "../envs/ntop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} ntop qa summary {params.reports} --out-html {output.html} --out-tsv {output.tsv} > {log} 2>&1"
