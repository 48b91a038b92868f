"""The header's ``parallel`` description when the caller knows more than the model shows.

``detect`` takes rank and world size as arguments, so a 2-process layout can be described
in one process; the collectives themselves are tested in test_distributed.py.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from gradtop.logger import GradtopWarning  # noqa: E402
from gradtop.logger.parallel import caller_hints, detect  # noqa: E402


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))


def test_plain_replicated_model_is_ddp_and_pre_clip() -> None:
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradtopWarning)  # DDP: nothing to warn about
        layout = detect(model, list(model.parameters()), rank=0, world=2)
    assert not layout.sharded
    assert layout.parallel["strategy"] == "ddp" and layout.parallel["grads"] == "pre-clip"


def test_caller_sets_grads_inside_the_block_only() -> None:
    model = _model()
    params = list(model.parameters())
    with caller_hints(grads="post-clip"):
        assert detect(model, params, rank=0, world=2).parallel["grads"] == "post-clip"
    assert detect(model, params, rank=0, world=2).parallel["grads"] == "pre-clip"


@pytest.mark.parametrize("world", [1, 2])
def test_fsdp1_hint_warns_and_names_the_strategy(world: int) -> None:
    model = _model()
    with caller_hints(strategy="fsdp1"), pytest.warns(GradtopWarning, match="per-shard"):
        layout = detect(model, list(model.parameters()), rank=0, world=world)
    assert layout.parallel["strategy"] == "fsdp1" and layout.parallel["world_size"] == world
    assert "not supported" in layout.parallel["reduce"]
