"""The committed fixture files are exactly what make_fixtures.py writes (no clock, no RNG)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.ui.ui_helpers import DATA


def test_fixtures_regenerate_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(DATA / "make_fixtures.py"), str(tmp_path)], check=True, timeout=120
    )
    made = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert made == sorted(p.name for p in DATA.glob("*.jsonl") if (tmp_path / p.name).exists())
    assert {"healthy.jsonl", "vanishing.jsonl", "exploding.jsonl", "hostile.jsonl"} <= set(made)
    for name in made:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
