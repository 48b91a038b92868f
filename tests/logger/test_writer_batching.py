"""The writer thread is not woken per step: it wakes on its timer or when a batch fills,
and ``close()`` still writes every record (issue 13)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

import gradtop
from tests.logger.logger_support import backward, mlp
from tests.support import ends, read_records, steps


def _train(log: gradtop.Logger, model: torch.nn.Module, n: int) -> None:
    opt = log.optimizer
    for _ in range(n):
        model.zero_grad(set_to_none=True)
        log.log(backward(model))
        if opt is not None:
            opt.step()


def _wait_for(condition: object, what: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_steps_below_a_batch_do_not_wake_the_writer_and_close_writes_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = gradtop.Logger(path, model, optimizer=opt, flush_interval=3600.0)
    writer = log._writer
    assert writer is not None
    _wait_for(lambda: path.exists() and path.stat().st_size > 0, "the header (open_now)")
    woken = writer.wakeups
    _train(log, model, 10)  # fewer than a batch (32)
    assert writer.wakeups == woken  # no step woke it; the hour-long timer has not run out
    log.close()
    records = read_records(path)
    assert [s.step for s in steps(records)] == list(range(1, 11))
    assert ends(records)[0].dropped == 0


def test_a_full_batch_wakes_the_writer_without_the_timer(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    with gradtop.Logger(path, model, flush_interval=3600.0) as log:
        _train(log, model, 32)
        # Only the batch can have woken it: the timer is an hour.
        _wait_for(lambda: len(steps(read_records(path))) == 32, "a batch of 32 records")


def test_the_timer_writes_a_partial_batch(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    with gradtop.Logger(path, model, flush_interval=0.05) as log:
        _train(log, model, 3)
        _wait_for(lambda: len(steps(read_records(path))) == 3, "three records, by the timer")
