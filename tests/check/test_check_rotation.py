"""A run logged by the real gradtop Logger through a log rotation keeps its whole history.

After a rename the Logger reopens the path and writes its header again (same run id).
A reader that follows the path reads the old file to its end, then the new one: the
repeated header must continue the run, not replace 100 steps with the 3 that follow it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gradtop.check import Check
from gradtop.reader import FileReader

torch = pytest.importorskip("torch")

import gradtop  # noqa: E402  (after the torch check: the Logger needs it)
from gradtop.logger import GradtopWarning  # noqa: E402

DEADLINE = 60.0


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _train(log: gradtop.Logger, model: torch.nn.Module, n: int) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(n):
        model.zero_grad()
        loss = model(torch.randn(6, 4, generator=gen)).square().mean()
        loss.backward()
        log.log(loss)


def _read_until(reader: FileReader, session: Check, records: int) -> None:
    """Read (as ``check --follow`` does) until ``records`` records in all were read."""
    end = time.monotonic() + DEADLINE
    while True:
        session.feed(reader.read().records)
        if reader.status.records >= records:
            return
        if time.monotonic() > end:  # the Logger writes from a background thread
            raise AssertionError(f"timed out waiting for {records} records")
        time.sleep(0.01)


def test_a_rotated_log_keeps_the_steps_before_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = _model()
    session = Check(str(path))
    with FileReader(path) as reader:
        with (
            pytest.warns(GradtopWarning, match="deleted or replaced"),
            gradtop.Logger(path, model) as log,
        ):
            _train(log, model, 100)
            _read_until(reader, session, 101)  # header, 100 steps
            path.rename(tmp_path / "run.jsonl.1")  # logrotate's default: rename, new file
            _train(log, model, 3)
        _read_until(reader, session, 106)  # then header again, 3 steps, end
        summary = session.summary(reader.status)
    run = summary.run
    assert summary.rotations == 1 and summary.skipped == {} and run is not None
    assert (run.steps, run.first_step, run.last_step) == (103, 1, 103)
    assert summary.runs_continued == 1 and summary.runs_restarted == 0
    assert len(summary.runs) == 1 and run.ended
