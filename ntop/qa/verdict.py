"""What a QA check concluded: passed, failed, not run (it could not be measured) or a warning (it
failed, but measures something nothing downstream uses, or a figure without a ground truth is where
only a wrong result lands). Only failures stop a strict build; the summary shows the other two as
what they are, never as a pass."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["not_run", "overall", "verdict", "warn_only"]


def not_run(reason: str, **figures: Any) -> dict[str, Any]:
    """A check that could not be measured (no keypoint labelled, no ray cast, ...): no verdict."""
    return {**figures, "not_run": reason, "passed": None}


def warn_only(check: dict[str, Any], why: str) -> dict[str, Any]:
    """The check as a warning: a failure is reported with ``why`` and no longer fails the report."""
    if check.get("passed") is False:
        return {**check, "warning": why, "passed": None}
    return check


def overall(checks: Iterable[dict[str, Any]]) -> bool:
    """A report passes when no check failed (not run, warnings and figure-only entries do not fail it)."""
    return all(c.get("passed") is not False for c in checks)


def verdict(check: dict[str, Any]) -> str | None:
    """``pass``, ``FAIL``, ``not run``, ``warn``, or None for figures without a verdict."""
    if "not_run" in check:
        return "not run"
    if "warning" in check:
        return "warn"
    if "passed" not in check or check["passed"] is None:
        return None
    return "pass" if check["passed"] else "FAIL"
