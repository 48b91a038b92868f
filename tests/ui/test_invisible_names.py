"""A layer name with an invisible character cannot pose as another in the watch table."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradtop.records import Header, ParamInfo, Step, encode_record
from tests.support import INVISIBLE, escaped
from tests.ui.ui_helpers import make_app, until_loaded


def _write(path: Path, names: list[str]) -> None:
    params = tuple(
        ParamInfo(n, n.rsplit(".", 1)[0], "Linear", "weight", (4, 4), 16, True) for n in names
    )
    head = Header("r1", 1_700_000_000.0, params, model="MLP")
    lines = [encode_record(head.to_json())]
    for s in range(1, 4):
        stats = {"grad_norm": [0.1] * len(names), "grad_max": [0.01] * len(names)}
        step = Step("r1", s, s, 1_700_000_000.0 + s, loss=1.0, stats=stats)
        lines.append(encode_record(step.to_json()))
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_watch_table_shows_the_escape(tmp_path: Path, char: str) -> None:
    path = tmp_path / "run.jsonl"
    _write(path, ["enc.weight", f"enc{char}.weight", "dec.weight"])
    app = make_app(path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until_loaded(pilot)
        screen = app.export_screenshot()
    assert char not in screen
    assert f"enc{escaped(char)}.weight" in screen
