"""QA verdicts: a check that could not run, or one that only warns, is never shown as a pass."""

import json

from ntop.qa.summary import write_summary
from ntop.qa.verdict import not_run, overall, verdict, warn_only


def test_not_run_and_warnings_are_neither_pass_nor_fail():
    failed_aside = warn_only({"rotation_deg": 0.6, "passed": False}, "nothing downstream uses it")
    checks = {"a": {"passed": True}, "b": not_run("no keypoint labelled"), "c": failed_aside, "d": {"mean_px": 1.0}}
    assert [verdict(c) for c in checks.values()] == ["pass", "not run", "warn", None]
    assert overall(checks.values()) and not overall([*checks.values(), {"passed": False}])
    assert warn_only({"passed": True}, "unused") == {"passed": True}  # a pass stays a pass


def test_summary_says_not_run_and_warn(tmp_path):
    qa = tmp_path / "results" / "qa" / "labels"
    qa.mkdir(parents=True)
    report = {"checks": {"projection": not_run("no keypoint is labelled"), "iou": {"mean_iou": 0.97, "passed": True},
                         "calibration": warn_only({"rotation_deg": 0.6, "passed": False}, "cameras: known")}, "passed": True}  # fmt: skip
    (qa / "s1.json").write_text(json.dumps(report))
    counts = write_summary([qa / "s1.json"], tmp_path / "s.html", tmp_path / "s.tsv")
    assert counts == {"checks": 4, "failed": 0, "not_run": 1, "warnings": 1}
    rows = {line.split("\t")[2]: line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines()[1:]}
    assert rows["checks.projection"][4] == "not run" and "no keypoint is labelled" in rows["checks.projection"][3]
    assert rows["checks.calibration"][4] == "warn" and rows["checks.iou"][4] == "pass" and rows["(all)"][4] == "pass"
    assert "class='not-run'" in (tmp_path / "s.html").read_text()


def test_summary_keeps_a_subject_verdict_beside_its_actions(tmp_path):
    """A fit report holds per-action figures and the subject's overall figures and verdict: all are rows."""
    qa = tmp_path / "results" / "qa" / "fit"
    qa.mkdir(parents=True)
    report = {"actions": {"walk": {"mask_iou_mean": 0.87}}, "overall": {"mask_iou_mean": 0.87, "passed": False}, "passed": False}
    (qa / "s1.json").write_text(json.dumps(report))
    counts = write_summary([qa / "s1.json"], tmp_path / "s.html", tmp_path / "s.tsv")
    rows = [line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines()[1:]]
    assert counts["failed"] == 2
    assert ["fit", "s1", "overall", "mask_iou_mean 0.87", "FAIL"] in rows and ["fit", "s1", "(all)", "", "FAIL"] in rows
