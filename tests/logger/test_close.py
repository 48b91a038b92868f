"""What ``close()`` leaves behind: nothing in memory, and no unbounded wait on the file."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

import gradtop
from gradtop.logger import GradtopWarning
from tests.logger.lifetime_support import closed_logger_is_freed
from tests.logger.logger_support import backward, mlp
from tests.support import read_records, split


def test_a_closed_logger_is_freed_by_reference_counting(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # update ratio on: a parameter copy
    path = tmp_path / "run.jsonl"
    assert closed_logger_is_freed(path, model, opt, lambda step: backward(model, seed=step))
    _, steps, ends = split(read_records(path))
    assert len(steps) == 2 and steps[0].stats["update_ratio"] and len(ends) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
@pytest.mark.timeout(60)
def test_close_gives_up_on_a_fifo_nobody_reads_and_counts_what_is_lost(tmp_path: Path) -> None:
    fifo = tmp_path / "run.jsonl"
    os.mkfifo(fifo)
    model = mlp()
    backward(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GradtopWarning)
        # Opening a FIFO for writing blocks until a reader comes: the writer thread waits
        # there, the training thread does not.
        log = gradtop.Logger(fifo, model, close_timeout=0.2)
        for _ in range(3):
            log.log(0.5)
        log.close()
    messages = [str(w.message) for w in caught if w.category is GradtopWarning]
    (message,) = [m for m in messages if "did not finish" in m]
    assert "close_timeout=0.2 s" in message
    assert "3 step record(s) and the end record were not written" in message
    assert log.dropped == 3
    # A reader at last: the writer, still waiting, writes what close() gave up on (the
    # count above was right) and stops; EOF once it has closed the file.
    with open(fifo, "rb") as reader:
        late = reader.read()
    (tmp_path / "late.jsonl").write_bytes(late)
    headers, steps, ends = split(read_records(tmp_path / "late.jsonl"))
    assert (len(headers), len(steps), len(ends)) == (1, 3, 1)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_close_timeout_must_be_a_finite_number_of_seconds(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="close_timeout"):
        gradtop.Logger(tmp_path / "run.jsonl", mlp(), close_timeout=bad)
