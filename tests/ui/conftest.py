"""Fixtures for the UI tests (helpers live in ui_helpers.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ui.ui_helpers import DATA


@pytest.fixture
def copy_fixture(tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a fixture file, for tests that append to or change it."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copyfile(DATA / name, dest)
        return dest

    return copy
