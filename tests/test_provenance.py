"""Code digests (what makes a rule rerun) and lineage trees."""

from __future__ import annotations

import shutil

import pytest

import ntop
from ntop import provenance
from ntop.errors import NtopError


@pytest.fixture()
def package_copy(tmp_path, monkeypatch):
    """A copy of the ntop sources that the test may edit; the digests read it instead of the real one."""
    copy = tmp_path / "ntop"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    p = provenance
    caches = (p._module_file, p._imports, p._closure, p._command_index, p._handler_lines)
    for cached in caches:
        cached.cache_clear()
    yield copy
    for cached in caches:
        cached.cache_clear()


def test_a_stage_digest_covers_exactly_the_code_it_imports(package_copy):
    files = {p.relative_to(package_copy).as_posix() for p in provenance._closure("ntop.views")}
    assert {"views.py", "cameras/lenses.py", "errors.py", "__init__.py", "io/stagefile.py", "body/model.py"} <= files  # lazy and relative imports count
    assert "nerf/train.py" not in files and "fisheye.py" not in files
    before = provenance.code_digest("ntop.views")
    (package_copy / "nerf" / "train.py").write_text((package_copy / "nerf" / "train.py").read_text() + "\n# an edit elsewhere\n")
    for cached in (provenance._imports, provenance._closure):
        cached.cache_clear()
    assert provenance.code_digest("ntop.views") == before
    (package_copy / "cameras" / "lenses.py").write_text((package_copy / "cameras" / "lenses.py").read_text() + "\n# an edit the stage runs\n")
    assert provenance.code_digest("ntop.views") != before
    before = provenance.code_digest("ntop.views")
    (package_copy / "cli.py").write_text((package_copy / "cli.py").read_text() + "\n# a CLI default changed\n")
    assert provenance.code_digest("ntop.views") != before
    assert provenance.code_digest("ntop.views", "ntop.fisheye") != provenance.code_digest("ntop.views")


def test_a_command_digest_follows_what_the_command_imports(package_copy):
    assert provenance._command_modules("train-nerf") == ("ntop.nerf.evaluate", "ntop.nerf.train")
    assert provenance._command_modules("qa labels") == ("ntop.qa.labels",)
    assert "ntop.body.anny" in provenance._command_modules("body-model")  # ``from ntop.body import anny``
    before = provenance.command_digest("train-nerf")
    (package_copy / "fisheye.py").write_text((package_copy / "fisheye.py").read_text() + "\n# the render stage, not training\n")
    assert provenance.command_digest("train-nerf") == before
    (package_copy / "nerf" / "sampling.py").write_text((package_copy / "nerf" / "sampling.py").read_text() + "\n# what training runs\n")
    for cached in (provenance._imports, provenance._closure):
        cached.cache_clear()
    assert provenance.command_digest("train-nerf") != before
    with pytest.raises(NtopError, match="no such ntop command: 'qa nope'"):
        provenance.command_digest("qa nope")


def test_a_command_digest_leaves_out_the_other_commands_handlers(package_copy):
    cli = package_copy / "cli.py"
    before = {name: provenance.command_digest(name) for name in ("train-nerf", "eval-nerf")}
    cli.write_text(cli.read_text().replace('"frame_stride, samples, device as JSON"', '"frame_stride, samples, device (JSON)"'))
    provenance._handler_lines.cache_clear()
    assert provenance.command_digest("train-nerf") == before["train-nerf"]  # another command's option
    assert provenance.command_digest("eval-nerf") != before["eval-nerf"]
    before = provenance.command_digest("train-nerf")
    own = "TrainConfig.from_dict(_params(a.params))"
    cli.write_text(cli.read_text().replace(own, own.replace("a.params", "a.params or '{}'")))
    provenance._handler_lines.cache_clear()
    assert provenance.command_digest("train-nerf") != before  # its own handler
    before = provenance.command_digest("train-nerf")
    cli.write_text(cli.read_text().replace("def _params(text: str)", "def _params(text: str | None)"))
    provenance._handler_lines.cache_clear()
    assert provenance.command_digest("train-nerf") != before  # a helper every handler shares


def test_unknown_module_and_unrecorded_file_are_errors(tmp_path):
    with pytest.raises(NtopError, match="no such ntop module: 'ntop.nope'"):
        provenance.code_digest("ntop.nope")
    (tmp_path / "raw.txt").write_text("x")
    with pytest.raises(NtopError, match="raw.txt: carries no provenance record"):
        provenance.explain(tmp_path / "raw.txt")


def test_lineage_of_a_stage_file_reaches_the_raw_capture(body, tmp_path, monkeypatch):
    from ntop.datasets.ingest import ingest
    from ntop.datasets.synthetic.capture import SyntheticConfig, generate

    monkeypatch.chdir(tmp_path)  # records keep paths as given, relative to the workflow's folder
    generate(body, "s", "walk", SyntheticConfig(num_frames=2, num_cameras=1, width=32, height=32), "raw")
    ingest("synthetic", "raw", "s", "walk", "capture.h5", "frames.h5")
    tree = provenance.explain("capture.h5")
    assert tree["record"]["stage"] == "capture" and tree["record"]["code"] == provenance.package_digest()
    assert tree["record"]["ntop_version"] == ntop.__version__
    (raw,) = tree["inputs"]
    assert raw["path"] == "raw" and raw["record"]["stage"] == "synthetic_gt" and len(raw["sha256"]) == 64
    lines = provenance.format_tree(tree)
    assert lines[0].startswith("capture.h5  [capture; ntop") and lines[2].startswith("└── raw  [synthetic_gt;")
