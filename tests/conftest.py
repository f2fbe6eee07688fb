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
