"""The UI's reader worker hands over a "complete" model only once the whole file is read.

``follow_into_app`` runs in a thread with a collecting ``post``, exactly as the app runs
it (minus Textual): the file holds lines longer than one read, which once ended the
back-fill early, and hostile lines, which once stopped the worker.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual.message import Message

from gradtop.ui.follower import FollowOptions, follow_into_app
from gradtop.ui.messages import ModelReplaced, ReaderFailed
from gradtop.ui.model import WatchModel
from tests.reader.gradwriter import header_line, hostile_lines, step_line

N = 3
CHUNK = 64 * 1024  # bytes per read: every long line below spans several reads
DEADLINE = 60.0


def _steps(run: str, start: int, count: int, n: int = N) -> bytes:
    return b"".join(step_line(run, s, n) for s in range(start, start + count))


def _run_worker(path: Path) -> list[Message]:
    """Messages the worker posted until it handed over the complete model."""
    posted: list[Message] = []
    stop, resume = threading.Event(), threading.Event()
    resume.set()

    def post(message: Message) -> None:
        posted.append(message)
        failed = isinstance(message, ReaderFailed)
        if failed or (isinstance(message, ModelReplaced) and message.phase == "complete"):
            stop.set()

    options = FollowOptions(str(path), poll=True, tick=0.05, read_chunk=CHUNK, latest_steps=5)
    worker = threading.Thread(
        target=follow_into_app, args=(options, WatchModel, post, stop, resume), daemon=True
    )
    worker.start()
    worker.join(DEADLINE)
    assert not worker.is_alive(), "the worker did not finish its back-fill"
    return posted


def test_backfill_reads_past_long_lines_and_hostile_ones_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    big_header = header_line("wide", 2000)  # one header over several reads' worth
    assert len(big_header) > 3 * CHUNK
    with open(path, "wb") as f:
        f.write(header_line("r1", N) + _steps("r1", 1, 5))
        f.write(b"y" * (5 * CHUNK) + b"\n")  # garbage spanning five reads
        f.write(b"".join(hostile_lines("r1", 6, N)) + _steps("r1", 6, 5))
        f.write(big_header + _steps("wide", 1, 3, n=2000))
    posted = _run_worker(path)
    assert not [m for m in posted if isinstance(m, ReaderFailed)]
    complete = [m for m in posted if isinstance(m, ModelReplaced) and m.phase == "complete"]
    assert len(complete) == 1
    history = complete[0].model.history
    assert list(history.runs) == ["r1", "wide"]
    assert history.runs["r1"].steps == 10 and history.runs["r1"].last_step == 10
    assert history.runs["wide"].steps == 3 and len(history.runs["wide"].params) == 2000
