"""A 1-process gloo group: the sharded code paths in-process, without spawning ranks."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def one_rank_group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    if request.node.get_closest_marker("distributed") is None:
        # Else it would run in the fast tier (-m "not slow and not distributed").
        pytest.fail("a test that starts a process group must be marked distributed")
    dist = pytest.importorskip("torch.distributed")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group(
        "gloo", store=store, rank=0, world_size=1, timeout=datetime.timedelta(seconds=30)
    )
    try:
        yield
    finally:
        dist.destroy_process_group()
