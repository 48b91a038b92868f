"""``gradtop watch`` of the hostile fixture: each invisible class shows as its escape.

The snapshot SVGs (test_snapshots.py) freeze the whole picture; this says what in it
matters: no raw invisible character, each name told apart from ``net.0.weight``, the
Logger's escape of a lone surrogate shown as written, a byte-order-mark file read.
"""

from __future__ import annotations

from gradtop.ui.layer_table import LayerTable
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

SHOWN = {
    "lone surrogate (the Logger's escape)": "lone\\ud800surrogate.weight",
    "zero-width space": "net.0\\u200b.weight",
    "zero-width non-joiner and joiner": "net.0\\u200c\\u200d.weight",
    "word joiner and byte-order mark": "net\\u2060.0.weight\\ufeff",
    "tag character": "net.0.weight\\U000e0001",
    "line and paragraph separators": "net.0\\u2028.weight\\u2029",
}
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\U000e0001\u2028\u2029"


async def test_every_invisible_class_in_the_hostile_fixture_shows_as_its_escape() -> None:
    app = make_app(fixture_path("hostile.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        rows = [table.row_text(pos) for pos in range(len(table.rows))]
        screen = app.export_screenshot()
    assert len(rows) == 15, "the byte-order mark did not hide the header"
    for what, name in SHOWN.items():
        assert sum(name in row for row in rows) == 1, what
    assert sum("net.0.weight " in row for row in rows) == 1, "only the real one looks real"
    for text in (*rows, screen):
        assert not [c for c in text if c in INVISIBLE]
        assert not [c for c in text if 0xD800 <= ord(c) <= 0xDFFF]
