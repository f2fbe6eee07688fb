"""Where a file came from: code digests for rerun triggers, stage records, and lineage trees.

Every stage output carries a record (``ntop.io.provenance_record``: stage, parameters, code version,
input digests); this module follows the records' inputs back to the raw capture. The Snakefile
imports :func:`command_digest` to give each rule its code as a parameter, because Snakemake does not
see the package a rule's command imports, and an edit there must rerun the stage.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from ntop.errors import NtopError

__all__ = [
    "code_digest",
    "command_digest",
    "package_digest",
    "read_record",
    "collect_records",
    "lineage",
    "explain",
    "format_tree",
    "DATASET_KIND",
]

PACKAGE = Path(__file__).resolve().parent
DATASET_KIND = "ntop-dataset-provenance"


# ----------------------------------------------------------------------------------------------
# code digests
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _module_file(name: str) -> Path | None:
    """The source file of ``ntop.a.b`` (module or package), or None if it is not ntop's."""
    parts = name.split(".")
    if parts[0] != "ntop":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)|import[ \t]+([^\n#]+))", re.M)


@functools.lru_cache(maxsize=None)
def _imports(path: Path) -> frozenset[str]:
    """ntop modules ``path`` imports anywhere (lazy imports inside functions count too).

    A line scan, not a parse: it is many times faster (the Snakefile runs it on every start), and a
    false hit (an import statement quoted in a docstring) only makes the digest cover one more file.
    """
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for m in _IMPORT.finditer(path.read_text()):
        if m.group(3):
            found.update(part.split()[0] for part in m.group(3).split(",") if part.strip())
            continue
        base = m.group(1)
        level = len(base) - len(base.lstrip("."))
        if level:
            anchor = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join(anchor + ([base.lstrip(".")] if base.lstrip(".") else []))
        found.add(base)
        names = m.group(2).strip("()")
        found.update(f"{base}.{part.split()[0]}" for part in names.split(",") if part.strip())  # ``from pkg import submodule``
    return frozenset(m for m in found if m.split(".")[0] == "ntop")


@functools.lru_cache(maxsize=None)
def _closure(module: str) -> frozenset[Path]:
    """Source files executed by ``import module``: its imports, transitively, and their parent packages."""
    seen: set[Path] = set()
    names: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            prefix = ".".join(parts[:i])
            if prefix in names:
                continue
            names.add(prefix)
            path = _module_file(prefix)
            if path is not None:
                seen.add(path)
                todo.extend(_imports(path))
    if not seen or _module_file(module) is None:
        raise NtopError(f"no such ntop module: {module!r}")
    return frozenset(seen)


def _digest_files(paths: Iterable[Path]) -> str:
    return _digest_parts({p: p.read_bytes() for p in paths})


def _digest_parts(parts: dict[Path, bytes]) -> str:
    """A short hash of source files' paths and contents (``parts``: path -> the bytes that count)."""
    h = hashlib.sha256()
    for p in sorted(parts):
        h.update(f"{p.relative_to(PACKAGE.parent)}\0".encode())
        h.update(parts[p])
    return h.hexdigest()[:16]


def code_digest(*modules: str) -> str:
    """A short hash of the source of ``modules``, every ntop module they import, and the CLI (which
    parses the rule's arguments and holds their defaults).

    A rule that passes this as a parameter reruns when, and only when, code its stage runs changes.
    """
    return _digest_files(set().union(*(_closure(m) for m in modules), {PACKAGE / "cli.py"}))


def command_digest(command: str) -> str:
    """A short hash of what ``ntop <command>`` runs: the ntop modules its handler imports (read from the
    CLI's source, not imported, so the library stays below the CLI), everything they import, and the CLI
    less the other commands' handlers, so that a change to one command's options reruns its rules only."""
    cli = PACKAGE / "cli.py"
    files = set().union(*(_closure(m) for m in _command_modules(command)))
    parts = {p: p.read_bytes() for p in files}
    if cli not in files:  # a handler importing no ntop module digests the whole CLI
        parts[cli] = _cli_source_for(command).encode()
    return _digest_parts(parts)


def _registered_name(decorator: ast.expr) -> str | None:
    """``"name"`` or ``"qa name"`` for ``@command("name", ..., qa=...)``, else None."""
    if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "command" and decorator.args):
        return None
    first = decorator.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    qa = any(k.arg == "qa" and isinstance(k.value, ast.Constant) and k.value.value is True for k in decorator.keywords)
    return f"qa {first.value}" if qa else first.value


def _handler_modules(fn: ast.FunctionDef) -> tuple[str, ...]:
    """The ntop modules a handler imports, ``from pkg import module`` included."""
    imports = [n for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("ntop")]
    found = {n.module for n in imports} | {f"{n.module}.{a.name}" for n in imports for a in n.names}
    return tuple(sorted(m for m in found if _module_file(m) is not None)) or ("ntop.cli",)


@functools.lru_cache(maxsize=1)
def _command_index() -> dict[str, tuple[str, ...]]:
    """Every CLI command and the modules its handler imports, read once from ``cli.py``'s source."""
    index = {}
    for fn in ast.parse((PACKAGE / "cli.py").read_text()).body:
        if isinstance(fn, ast.FunctionDef):
            for name in filter(None, map(_registered_name, fn.decorator_list)):
                index[name] = _handler_modules(fn)
    return index


@functools.lru_cache(maxsize=1)
def _handler_lines() -> dict[str, range]:
    """The source lines (0-based, decorators included) of every command's handler in ``cli.py``."""
    spans = {}
    for fn in ast.parse((PACKAGE / "cli.py").read_text()).body:
        if isinstance(fn, ast.FunctionDef) and fn.end_lineno is not None:
            start = min([fn.lineno] + [d.lineno for d in fn.decorator_list]) - 1
            for name in filter(None, map(_registered_name, fn.decorator_list)):
                spans[name] = range(start, fn.end_lineno)
    return spans


def _cli_source_for(command: str) -> str:
    """``cli.py`` without the handlers of commands other than ``command`` (its parser, shared helpers
    and defaults stay)."""
    spans = _handler_lines()
    own = set(spans.get(command, ()))
    other = {i for name, span in spans.items() if name != command for i in span} - own
    lines = (PACKAGE / "cli.py").read_text().splitlines(keepends=True)
    return "".join(line for i, line in enumerate(lines) if i not in other)


def _command_modules(command: str) -> tuple[str, ...]:
    if command not in _command_index():
        raise NtopError(f"no such ntop command: {command!r}")
    return _command_index()[command]


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """A short hash of the whole package's source: the code identity in every stage record."""
    return _digest_files(PACKAGE.rglob("*.py"))


# ----------------------------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------------------------


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance record ``path`` carries, or None for a raw input (which carries none).

    HDF5 stage files keep it in an attribute, model files in a key, stage folders in
    ``provenance.json`` (labels, dataset) or in their stage file (renders, synthetic captures).
    """
    path = Path(path)
    if path.is_dir():
        if (path / "provenance.json").is_file():
            record = json.loads((path / "provenance.json").read_text())
            return record.get("record", record) if record.get("kind") == DATASET_KIND else record
        for name in ("render.h5", "gt.h5"):
            if (path / name).is_file():
                return read_record(path / name)
        return None
    if path.suffix == ".h5" and path.is_file():
        import h5py

        try:
            with h5py.File(path, "r") as f:
                text = f.attrs.get("provenance")
        except OSError as e:
            raise NtopError(f"not a readable HDF5 file ({e})", path) from None
        return json.loads(text) if text else None
    if path.suffix == ".pt" and path.is_file():
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception as e:  # torch raises many kinds for a damaged file
            raise NtopError(f"cannot read model ({type(e).__name__})", path) from None
        return state.get("provenance") if isinstance(state, dict) else None
    return None


def collect_records(roots: Iterable[str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """Every record reachable from ``roots`` through the records' inputs, keyed by path as recorded."""
    records: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    todo = [os.fspath(r) for r in roots]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        record = read_record(path) if os.path.exists(path) else None
        if record is not None:
            records[path] = record
            todo.extend(record.get("inputs", {}))
    return records


# ----------------------------------------------------------------------------------------------
# lineage trees
# ----------------------------------------------------------------------------------------------


def lineage(path: str, records: dict[str, dict[str, Any]], digest: str | None = None) -> dict[str, Any]:
    """``path`` with its record and its inputs' lineages, nested; raw inputs are leaves."""
    record = records.get(path)
    node: dict[str, Any] = {"path": path}
    if digest:
        node["sha256"] = digest
    if record is None:
        node["raw"] = True
        return node
    node["record"] = {k: v for k, v in record.items() if k != "inputs"}
    node["inputs"] = [lineage(p, records, d) for p, d in sorted(record.get("inputs", {}).items())]
    return node


def _dataset_provenance(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """The dataset folder holding ``path`` (or ``path`` itself) and its parsed provenance.json, if any."""
    start = path.resolve()
    for candidate in [start, *start.parents] if start.is_dir() else start.parents:
        marker = candidate / "provenance.json"
        if marker.is_file():
            prov = json.loads(marker.read_text())
            if prov.get("kind") == DATASET_KIND:
                return candidate, prov
    return None


def explain(path: str | os.PathLike) -> dict[str, Any]:
    """The lineage tree of a stage output, an assembled dataset, or one file inside a dataset.

    Inside a dataset the embedded records are used (results/ may be gone): an image leads to its
    render and labels, a merged annotation file to the labels folders merged into it.
    """
    p = Path(path)
    if not p.exists():
        raise NtopError("no such file or folder", p)
    found = _dataset_provenance(p)
    if found is None:
        records = collect_records([os.fspath(p)])
        if os.fspath(p) not in records:
            raise NtopError("carries no provenance record (a raw input, or not written by ntop)", p)
        return lineage(os.fspath(p), records)
    root, prov = found
    rel = p.resolve().relative_to(root.resolve()).as_posix()
    if rel in prov["annotations"]:
        sources = prov["annotations"][rel]
    else:  # an image: its item; the dataset itself, its card or manifest: every item
        items = [it for it in prov["items"] if not rel.startswith("images/") or p.name in it["images"]]
        sources = [d for it in items for d in (it["render"], it["labels"])]
    node = lineage(os.fspath(p), {os.fspath(p): {**prov["record"], "inputs": {}}})
    node["inputs"] = [lineage(s, prov["records"], prov["record"]["inputs"].get(s)) for s in sources]
    return node


def _describe(record: dict[str, Any]) -> str:
    code = record.get("git_commit") or record.get("code") or "?"
    when = record.get("finished") or record.get("started") or "?"
    version = record.get("ntop_version", "?")
    return f"[{record.get('stage', '?')}; ntop {version} @ {str(code)[:12]}; {when}; {record.get('device', '?')}]"


def format_tree(node: dict[str, Any], full: bool = False, seen: set[str] | None = None) -> list[str]:
    """Lines of an indented tree; a subtree shown once (in this call or with the same ``seen``) is referred to, not repeated."""
    seen = set() if seen is None else seen
    lines: list[str] = []
    if "record" not in node:
        lines.append(f"{node['path']}  (raw input{', sha256 ' + node['sha256'][:12] if node.get('sha256') else ''})")
        return lines
    if node["path"] in seen:
        return [f"{node['path']}  (lineage shown above)"]
    seen.add(node["path"])
    record = node["record"]
    lines.append(f"{node['path']}  {_describe(record)}")
    params = json.dumps(record.get("params", {}), sort_keys=True)
    if not full and len(params) > 160:
        params = params[:157] + "..."
    children = node.get("inputs", [])
    lines.append(f"{'│   ' if children else '    '}params: {params}")
    for i, child in enumerate(children):
        last = i == len(children) - 1
        sub = format_tree(child, full, seen)
        lines.append(("└── " if last else "├── ") + sub[0])
        lines.extend(("    " if last else "│   ") + line for line in sub[1:])
    return lines
