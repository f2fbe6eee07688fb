"""One source per setting: every config section that a settings dataclass reads is closed in the
workflow's JSON schema, and lists exactly that dataclass's fields (plus the keys only the workflow
reads), with matching JSON types. Add a field to a dataclass and this fails until the schema has it."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import pytest
import yaml

from ntop.datasets.synthetic.capture import SyntheticConfig
from ntop.fisheye import RenderConfig
from ntop.fit.core import FitConfig
from ntop.keypoints.calibrate import CalibrateConfig
from ntop.keypoints.detect import DetectConfig
from ntop.keypoints.triangulate import TriangulateConfig
from ntop.masks.stage import MasksConfig
from ntop.nerf.prepare import PrepareConfig
from ntop.views import RigConfig

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())

#: config section -> (the dataclass that reads it, keys only the workflow reads)
SECTIONS = {
    "keypoints": (DetectConfig, set()),
    "triangulation": (TriangulateConfig, set()),
    "calibration": (CalibrateConfig, {"check"}),  # whether qa keypoints also calibrates a rig it knows
    "fit": (FitConfig, {"mode", "camera", "refine_with_masks"}),  # the stage's mode and which fit the rest uses
    "masks": (MasksConfig, set()),
    "views": (RigConfig, set()),
    "render": (RenderConfig, set()),
    "synthetic": (SyntheticConfig, set()),
    "nerf": (PrepareConfig, {"train", "eval", "device"}),  # train: TrainConfig; eval: evaluate()'s settings
}


def json_types(annotation: typing.Any) -> set[str]:
    """The JSON types a value of this Python annotation may take."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(json_types(a) for a in typing.get_args(annotation)))
    base = origin or annotation
    if base is type(None):
        return {"null"}
    if base is bool:
        return {"boolean"}
    if base is int:
        return {"integer"}
    if base is float:
        return {"number", "integer"}
    if base is str:
        return {"string"}
    if base in (list, tuple):
        return {"array"}
    if base is dict or dataclasses.is_dataclass(base):
        return {"object"}
    return set()  # Any: no constraint


def schema_types(prop: dict) -> set[str]:
    if "enum" in prop:
        return {{bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}[type(v)] for v in prop["enum"]}
    t = prop.get("type", [])
    return set([t] if isinstance(t, str) else t)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_a_config_section_lists_its_dataclass_fields_and_nothing_else(section):
    cls, workflow_keys = SECTIONS[section]
    entry = SCHEMA["properties"][section]
    assert entry.get("additionalProperties") is False, f"schema section {section!r} is open"
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(entry["properties"]) == fields | workflow_keys, f"{section}: schema {sorted(entry['properties'])} vs {cls.__name__} {sorted(fields)}"
    hints = typing.get_type_hints(cls)
    for name in fields:
        allowed, declared = json_types(hints[name]), schema_types(entry["properties"][name])
        assert not allowed or declared <= allowed | {"integer"} and declared, f"{section}.{name}: schema {declared}, {cls.__name__} {allowed}"


def test_every_schema_section_is_closed():
    open_sections = [k for k, v in SCHEMA["properties"].items() if v.get("type") == "object" and k != "subjects" and v.get("additionalProperties") is not False]
    assert not open_sections


CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())

#: where config/config.yaml deliberately sets another value than the library's default, and why
WORKFLOW_CHOICES = {
    "triangulation.temporal_gate_m": "the workflow follows joints through time; a library call on loose points does not",
    "triangulation.smooth_window": "the same: Savitzky-Golay over 11 frames in the workflow",
    "views.frame_stride": "the demo renders every 4th frame",
    "nerf.heldout_cameras": "no library default: the demo holds out cam03",
    "nerf.train.iterations": "the demo's CPU budget (about 4 minutes on 2 cores)",
    "nerf.train.residual_start": "scaled with the demo's shorter training",
    "nerf.train.residual_full": "scaled with the demo's shorter training",
    "nerf.train.checkpoint_every": "scaled with the demo's shorter training",
}


def _default(f: dataclasses.Field) -> typing.Any:
    if f.default is not dataclasses.MISSING:
        return list(f.default) if isinstance(f.default, tuple) else f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _sections():
    from ntop.nerf.train import TrainConfig

    yield from ((name, cls, SCHEMA["properties"][name], CONFIG.get(name, {})) for name, (cls, _) in SECTIONS.items())
    yield "nerf.train", TrainConfig, SCHEMA["properties"]["nerf"]["properties"]["train"], CONFIG["nerf"].get("train", {})


def test_defaults_have_one_home():
    """The schema's defaults are the dataclasses'; config/config.yaml restates them, except its listed choices."""
    for name, cls, schema, values in _sections():
        for f in dataclasses.fields(cls):
            prop, key = schema["properties"][f.name], f"{name}.{f.name}"
            if "default" in prop:
                assert prop["default"] == _default(f), f"schema default of {key}: {prop['default']!r} vs {cls.__name__} {_default(f)!r}"
            if f.name in values and key not in WORKFLOW_CHOICES:
                assert values[f.name] == _default(f), f"config/config.yaml {key}: {values[f.name]!r} vs {cls.__name__} {_default(f)!r}"
    for key in WORKFLOW_CHOICES:  # a choice that stopped differing is no longer a choice
        section, _, field = key.rpartition(".")
        cls = next(c for n, c, _, _ in _sections() if n == section)
        value = CONFIG
        for part in key.split("."):
            value = value[part]
        assert value != _default(next(f for f in dataclasses.fields(cls) if f.name == field)), key
