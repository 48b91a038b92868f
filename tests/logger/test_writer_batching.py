"""The writer thread is not woken per step: it wakes on its timer or when a batch fills,
and ``close()`` still writes every record (issue 13)."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

import gradtop
from gradtop.logger.writer import RecordWriter, WarnOnce
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


def _line(i: int) -> bytes:
    return b'{"n":%d}\n' % i


def test_a_full_batch_wakes_the_writer_without_the_timer(tmp_path: Path) -> None:
    """At the writer itself, so nothing else wakes it: no open_now, an hour-long timer."""
    path = tmp_path / "run.jsonl"
    writer = RecordWriter(str(path), b'{"h":1}\n', WarnOnce(), interval=3600.0, batch=4)
    try:
        for i in range(3):
            assert writer.submit(functools.partial(_line, i))
        assert writer.wakeups == 0 and not path.exists()  # three records: still asleep
        writer.submit(functools.partial(_line, 3))  # the fourth fills the batch
        _wait_for(lambda: path.exists() and len(path.read_bytes().splitlines()) == 5, "batch")
        assert writer.wakeups == 1
    finally:
        writer.close(None, timeout=10.0)
    assert path.read_bytes().splitlines() == [b'{"h":1}', *(_line(i).strip() for i in range(4))]


def test_the_timer_writes_a_partial_batch(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    with gradtop.Logger(path, model, flush_interval=0.05) as log:
        _train(log, model, 3)
        _wait_for(
            lambda: path.exists() and len(steps(read_records(path))) == 3,
            "three records, by the timer",
        )
