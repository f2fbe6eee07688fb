"""The import-layer contract (pyproject.toml, [tool.importlinter]): it holds for ntop, and it breaks
when a lower layer imports a higher one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the ntop package found first under ``root``."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {"PYTHONPATH": str(root), "PATH": ""}
    return subprocess.run([sys.executable, "-c", code, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True)  # fmt: skip


def test_the_layers_hold():
    r = lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "ntop", tmp_path / "ntop", ignore=shutil.ignore_patterns("__pycache__"))
    lenses = tmp_path / "ntop" / "cameras" / "lenses.py"
    lenses.write_text(lenses.read_text().replace("import torch\n", "import torch\n\nfrom ntop.qa.verdict import not_run  # noqa: F401\n", 1))
    r = lint_imports(tmp_path)
    assert r.returncode != 0
    assert "BROKEN" in r.stdout and "ntop.cameras.lenses -> ntop.qa.verdict" in r.stdout, r.stdout
