"""One table of every QA report of a run (``ntop qa summary``): the figures and verdicts that the
per-stage JSON files hold, for the Snakemake report and for a quick look."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from ntop.errors import NtopError
from ntop.io import atomic_path
from ntop.qa.verdict import verdict

__all__ = ["summary_rows", "write_summary"]


def _scalars(d: dict[str, Any]) -> str:
    parts = [
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in d.items()
        if k != "passed" and isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]
    return ", ".join(parts)


def _checks(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str, str | None]]:
    """(check, figures, passed) for every object of a report that carries figures or a verdict
    (two levels deep: below are per-joint and per-frame details)."""
    if not isinstance(node, dict) or depth > 2:
        return
    figures = _scalars(node)
    if path and ("passed" in node or figures):
        yield path, figures, verdict(node)
    for key, value in node.items():
        yield from _checks(value, f"{path}.{key}" if path else key, depth + 1)


def summary_rows(reports: list[str | Path]) -> list[dict[str, Any]]:
    """Rows ``{stage, item, check, figures, passed}``; the item is the subject, or subject/action, and
    ``passed`` is the verdict (``pass``, ``FAIL``, ``not run``, ``warn``, or None for figures alone)."""
    rows = []
    for path in map(Path, reports):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise NtopError(f"not a readable QA report ({e})", path) from None
        if path.name == "eval.json":  # results/nerf/<subject>/eval.json
            stage, item = "nerf", path.parent.name
        elif path.parent.parent.name == "qa":  # results/qa/<stage>/<subject>.json
            stage, item = path.parent.name, path.stem
        else:  # results/qa/<stage>/<subject>/<action>.json
            stage, item = path.parent.parent.name, f"{path.parent.name}/{path.stem}"
        # a subject's report may hold one report per action, and then its overall figures and verdict beside them
        parts = [(item, report)]
        if isinstance(report.get("actions"), dict):
            rest = {k: v for k, v in report.items() if k != "actions"}
            parts = [(f"{item}/{a}", r) for a, r in report["actions"].items()] + ([(item, rest)] if rest else [])
        for name, part in parts:
            found = [c for c in _checks(part, "") if not c[0].startswith("images")]
            rows += [{"stage": stage, "item": name, "check": c, "figures": f, "passed": p} for c, f, p in found]
            if "passed" in part:
                rows.append({"stage": stage, "item": name, "check": "(all)", "figures": "", "passed": verdict(part)})
    return rows


def write_summary(reports: list[str | Path], out_html: str | Path, out_tsv: str | Path) -> dict[str, int]:
    rows = summary_rows(reports)
    with atomic_path(out_tsv) as tmp:
        lines = ["stage\titem\tcheck\tfigures\tpassed"] + [
            f"{r['stage']}\t{r['item']}\t{r['check']}\t{r['figures']}\t{r['passed'] or '-'}" for r in rows
        ]
        tmp.write_text("\n".join(lines) + "\n")
    cells = "".join(
        f"<tr class='{(r['passed'] or '-').lower().replace(' ', '-')}'>"
        f"<td>{html.escape(r['stage'])}</td><td>{html.escape(r['item'])}</td>"
        f"<td>{html.escape(r['check'])}</td><td>{html.escape(r['figures'])}</td><td>{r['passed'] or '-'}</td></tr>"
        for r in rows
    )
    style = (
        "table{border-collapse:collapse;font:13px sans-serif}td,th{border:1px solid #ccc;padding:3px 6px}"
        "tr.fail td{background:#fdd}tr.not-run td,tr.warn td{background:#ffe9b3}"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(
            f"<html><head><style>{style}</style></head><body><table><tr><th>stage</th><th>item</th><th>check</th>"
            f"<th>figures</th><th>passed</th></tr>{cells}</table></body></html>\n"
        )
    counts = Counter(r["passed"] for r in rows)
    return {"checks": len(rows), "failed": counts["FAIL"], "not_run": counts["not run"], "warnings": counts["warn"]}
