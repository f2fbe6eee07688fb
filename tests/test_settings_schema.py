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
