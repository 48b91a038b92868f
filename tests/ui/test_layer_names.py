"""Long layer names keep what tells layers apart: the layer number and the last parts.

Cut from the left, every attention layer of a transformer read ``…lf_attn.in_proj_weight``
at 80x24, layer 0 and layer 11 alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from gradtop.records import ParamInfo
from gradtop.ui.format import shorten_name
from gradtop.ui.layer_table import LayerTable
from tests.data.make_fixtures import header, steps, wobble, write
from tests.ui.ui_helpers import make_app, until_loaded

ENCODER = "transformer.encoder.layers.{}.self_attn.in_proj_weight"


@pytest.mark.parametrize(
    ("name", "width", "short"),
    [
        (ENCODER.format(11), 24, "…11…in_proj_weight"),  # layers.11 would need 25
        (ENCODER.format(0), 24, "…layers.0…in_proj_weight"),
        ("transformer.h.11.attn.c_proj.weight", 20, "…h.11…c_proj.weight"),
        ("transformer.h.11.attn.c_proj.weight", 24, "…h.11.attn.c_proj.weight"),
        ("blocks.3.0.weight", 16, "…3.0.weight"),
        (ENCODER.format(0), 16, "…0…n_proj_weight"),  # the last part is cut, not the index
        ("net.0.weight", 12, "net.0.weight"),  # fits: unchanged
    ],
)
def test_shorten_name_keeps_index_and_last_parts(name: str, width: int, short: str) -> None:
    assert shorten_name(name, width) == short
    assert cell_len(short) <= width


def test_names_without_an_index_keep_their_end() -> None:
    assert shorten_name("encoder.attention.query_key_value.weight", 20) == "…ry_key_value.weight"
    assert shorten_name("x" * 300, 10) == "…" + "x" * 9
    assert shorten_name("層.0." + "重み" * 10, 9).startswith("…")
    assert cell_len(shorten_name("層.0." + "重み" * 10, 9)) <= 9


def test_every_layer_number_survives_any_width() -> None:
    for layer in (0, 7, 11, 123):
        for width in range(14, 60):
            short = shorten_name(ENCODER.format(layer), width)
            assert re.search(rf"(^|[.…]){layer}[.…]", short), (width, short)
            assert short.endswith("_weight") and cell_len(short) <= width


@pytest.fixture
def transformer_file(tmp_path: Path) -> Path:
    names = [ENCODER.format(layer) for layer in (0, 1, 10, 11)]
    names += ["transformer.h.0.attn.c_proj.weight", "transformer.h.11.attn.c_proj.weight"]
    params = tuple(
        ParamInfo(n, n.rsplit(".", 1)[0], "Linear", n.rsplit(".", 1)[1], (8, 8), 64, True, True)
        for n in names
    )
    head = header("names-0001", params, model="Transformer", activations=("GELU",))
    path = tmp_path / "names.jsonl"
    write(path, [head, *steps(head, 30, lambda s, i, n: 0.01 * wobble(s, i), lambda s: 2.0)])
    return path


async def test_table_at_80x24_tells_every_layer_apart(transformer_file: Path) -> None:
    app = make_app(transformer_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        shown = [table.row_text(pos) for pos in range(len(table.rows))]
        names = [text.split()[1] for text in shown]
        assert len(set(names)) == len(names), names
        for name, layer in zip(names, (0, 1, 10, 11), strict=False):
            assert f"{layer}…in_proj_weight" in name, name
        assert "h.11" in names[-1] and names[-1].endswith("c_proj.weight")
