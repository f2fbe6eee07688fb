"""Shared fixtures: one procedural body model per session, generated into a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def body_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ntop.body import procedural

    return procedural.cached_path(tmp_path_factory.mktemp("ntop-cache"))


@pytest.fixture(scope="session")
def body(body_model_path: Path):
    from ntop.body import BodyModel

    return BodyModel.from_file(body_model_path)


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing a test does may write to the user's ~/.cache."""
    monkeypatch.setenv("NTOP_CACHE", os.fspath(tmp_path / "cache"))


@pytest.fixture(scope="session")
def synthetic_capture(body, tmp_path_factory: pytest.TempPathFactory):
    """The tests' one way to get a capture: ``synthetic_capture(action, **SyntheticConfig fields)`` renders
    a synthetic action and ingests it, once per distinct request, into a folder holding ``raw/``,
    ``capture.h5`` and ``frames.h5`` (a test may add files of its own there, never change these)."""
    from ntop.datasets.ingest import ingest
    from ntop.datasets.synthetic.capture import SyntheticConfig, generate

    made: dict[tuple, Path] = {}

    def make(action: str = "walk", **settings) -> Path:
        key = (action, tuple(sorted(settings.items())))
        if key not in made:
            root = tmp_path_factory.mktemp(f"capture-{action}")
            generate(body, "s", action, SyntheticConfig(**settings), root / "raw")
            ingest("synthetic", root / "raw", "s", action, root / "capture.h5", root / "frames.h5")
            made[key] = root
        return made[key]

    return make
