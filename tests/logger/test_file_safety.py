"""The file survives what real runs do to it: appends, crashes, full disks, rm, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import gradtop
from gradtop.logger import GradtopWarning
from gradtop.reader import FileReader
from gradtop.records import RecordError, Step, decode_record
from tests.logger.logger_support import backward, mlp
from tests.support import ends, headers, read_records, steps, strict_loads

REPO = Path(__file__).resolve().parents[2]


def _wait_for(condition: object, what: str, deadline_s: float = 60.0) -> None:
    """Poll a condition with a deadline (the writer is a background thread/process)."""
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _train(log: gradtop.Logger, model: torch.nn.Module, n: int) -> None:
    for i in range(n):
        model.zero_grad()
        backward(model, seed=i)
        log.log(1.0)


def test_appending_starts_a_new_run(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    for _ in range(2):
        with gradtop.Logger(path, model) as log:
            _train(log, model, 2)
    records = read_records(path)
    first, second = headers(records)
    assert first.run_id != second.run_id
    assert [type(r).__name__ for r in records] == ["Header", "Step", "Step", "End"] * 2


def test_a_torn_last_line_is_closed_before_the_new_header(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"kind":"step","run_id":"dead","seq":7,"ste')  # writer killed mid-line
    model = mlp()
    with gradtop.Logger(path, model) as log:
        _train(log, model, 1)
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == b'{"kind":"step","run_id":"dead","seq":7,"ste'
    assert lines[-1] == b""
    with pytest.raises(RecordError):
        decode_record(lines[0])
    n_params = len(list(model.parameters()))
    kinds = [type(decode_record(line, n_params)).__name__ for line in lines[1:-1]]
    assert kinds == ["Header", "Step", "End"]


def test_full_disk_warns_once_and_training_continues() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(GradtopWarning, match="cannot write /dev/full") as caught:
        log = gradtop.Logger("/dev/full", model, optimizer=opt)
        for i in range(5):
            opt.zero_grad()
            backward(model, seed=i)
            log.log(1.0)
            opt.step()
        log.close()
    assert len([w for w in caught if issubclass(w.category, GradtopWarning)]) == 1
    assert log.dropped == 6  # five steps and the end record (the header never landed either)


def test_unwritable_path_warns_once_and_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    model = mlp()
    with (
        pytest.warns(GradtopWarning, match="cannot write") as caught,
        gradtop.Logger(blocker / "run.jsonl", model) as log,
    ):
        _train(log, model, 3)
    assert len(caught) == 1
    assert log.dropped == 4  # three steps and the end record


@pytest.mark.parametrize("how", ["deleted", "rotated"])
def test_a_deleted_or_rotated_file_is_reopened_with_a_header(tmp_path: Path, how: str) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    with (
        pytest.warns(GradtopWarning, match="deleted or replaced"),
        gradtop.Logger(path, model) as log,
    ):
        _train(log, model, 2)
        _wait_for(lambda: _lines(path) >= 3, "header and two steps")
        if how == "deleted":
            path.unlink()
        else:
            path.rename(tmp_path / "run.jsonl.1")
        _train(log, model, 3)
    records = read_records(path)
    assert [type(r).__name__ for r in records] == ["Header", "Step", "Step", "Step", "End"]
    assert [s.step for s in steps(records)] == [3, 4, 5]
    if how == "rotated":
        old = read_records(tmp_path / "run.jsonl.1")
        assert headers(old)[0].run_id == headers(records)[0].run_id


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    model = mlp()
    n = 60
    with gradtop.Logger(path, model, queue_size=1, fsync=True) as log:
        _train(log, model, n)
    records = read_records(path)
    logged = steps(records)
    (end,) = ends(records)
    # Whatever the timing, every logged step is either in the file or counted as dropped,
    # and each drop leaves a visible gap in seq.
    assert len(logged) + end.dropped == n
    seqs = [s.seq for s in logged]
    assert seqs == sorted(seqs) and end.seq == n + 1
    assert n - len(seqs) == end.dropped


_CHILD = textwrap.dedent(
    """
    import sys, torch, gradtop
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(64, 64) for _ in range(40)])
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    log = gradtop.Logger(sys.argv[1], model, optimizer=opt)
    mode = sys.argv[2]
    for i in range(10**9 if mode == "forever" else 3):
        opt.zero_grad()
        model(torch.randn(4, 64)).pow(2).mean().backward()
        log.log(float(i))
        opt.step()
    # mode "exit": no close(); atexit must flush and write the end record
    """
)


def _child(path: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_while_logging_leaves_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    proc = _child(path, "forever")
    try:
        _wait_for(lambda: _lines(path) >= 30 or proc.poll() is not None, "30 records")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Whole lines, plus at most a torn last one: Linux ends a write to a file early when
    # a SIGKILL arrives between its pages, and one record here spans several pages.
    whole, _, torn = path.read_bytes().rpartition(b"\n")
    kept = tmp_path / "whole.jsonl"
    kept.write_bytes(whole + b"\n")
    records = read_records(kept)
    assert not ends(records)  # it died: no end record
    assert len(records) >= 30 and all(isinstance(r, Step) for r in records[1:])
    if torn:
        with pytest.raises(ValueError):
            strict_loads(torn)
    # A restarted run appends on a line of its own: the torn line, if any, is skipped
    # and counted once, and nothing of either run is lost.
    model = mlp()
    with gradtop.Logger(path, model) as log:
        _train(log, model, 1)
    with FileReader(path) as reader:
        batches = list(reader.read_to_end())
    read = [r for b in batches for r in b.records]
    assert len(headers(read)) == 2
    assert len(steps(read)) == len(steps(records)) + 1
    assert batches[-1].status.skipped == ({"invalid_json": 1} if torn else {})


def test_exit_without_close_still_writes_the_end_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    proc = _child(path, "exit")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    records = read_records(path)
    assert len(steps(records)) == 3
    (end,) = ends(records)
    assert end.reason == "exit" and end.steps == 3 and end.dropped == 0


def _is_run_file(fd: int, path: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(path)
    except OSError:
        return False


def test_short_writes_are_completed_into_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipe, FUSE or NFS mount may accept fewer bytes than asked: the writer loops."""
    path = tmp_path / "run.jsonl"
    real_write = os.write
    calls = {"short": 0}

    def short_write(fd: int, data: bytes) -> int:
        if _is_run_file(fd, path):
            calls["short"] += 1
            return real_write(fd, bytes(data[:7]))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_write)
    model = mlp()
    with gradtop.Logger(path, model) as log:
        _train(log, model, 3)
    monkeypatch.undo()
    records = read_records(path)  # strict: every line whole, valid, sized to the header
    assert [type(r).__name__ for r in records] == ["Header", "Step", "Step", "Step", "End"]
    assert calls["short"] > len(records)  # really written 7 bytes at a time
    assert ends(records)[0].dropped == 0


def test_a_write_failing_mid_record_leaves_the_next_record_on_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO after part of a step landed: that step is lost and counted, the rest is whole."""
    path = tmp_path / "run.jsonl"
    real_write = os.write
    state = {"writes": 0}

    def failing_write(fd: int, data: bytes) -> int:
        if _is_run_file(fd, path):
            state["writes"] += 1
            if state["writes"] == 2:  # the first step record: a short write of 20 bytes
                return real_write(fd, bytes(data[:20]))
            if state["writes"] == 3:  # ... and the call for the rest fails
                raise OSError(5, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    model = mlp()
    with (
        pytest.warns(GradtopWarning, match="Input/output error") as caught,
        gradtop.Logger(path, model) as log,
    ):
        _train(log, model, 3)
    monkeypatch.undo()
    assert len([w for w in caught if issubclass(w.category, GradtopWarning)]) == 1
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    torn = lines[1]
    assert len(torn) == 20
    with pytest.raises(RecordError):
        decode_record(torn)
    n_params = len(list(model.parameters()))
    rest = [decode_record(line, n_params) for line in [lines[0], *lines[2:-1]]]
    assert [type(r).__name__ for r in rest] == ["Header", "Step", "Step", "End"]
    assert [r.step for r in rest if isinstance(r, Step)] == [2, 3]
    assert ends(rest)[0].dropped == 1  # type: ignore[arg-type]


def test_permission_denied_warns_once_and_writing_resumes_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EACCES (a shared results folder, a root-owned file): training goes on; once the
    file can be opened again, the run continues with its header. (Tests run as root, so
    the refusal is injected at os.open rather than with chmod.)"""
    path = tmp_path / "run.jsonl"
    real_open = os.open

    def refuse(file: str, *args: object, **kwargs: object) -> int:
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    model = mlp()
    with pytest.warns(GradtopWarning, match="Permission denied") as caught:
        log = gradtop.Logger(path, model)
        _train(log, model, 3)
        _wait_for(lambda: log.dropped >= 3, "three refused steps counted as dropped")
        monkeypatch.undo()  # permission granted
        _train(log, model, 2)
        log.close()
    assert len([w for w in caught if issubclass(w.category, GradtopWarning)]) == 1
    records = read_records(path)
    assert [type(r).__name__ for r in records] == ["Header", "Step", "Step", "End"]
    assert [s.step for s in steps(records)] == [4, 5]
    assert ends(records)[0].dropped == 3


def test_a_record_beyond_the_readers_line_limit_is_written_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is lowered so a small model crosses it: the writer must say, once, that
    gradtop's reader would skip these lines, and still write them for other tools."""
    from gradtop.logger import writer

    monkeypatch.setattr(writer, "MAX_LINE_BYTES", 600)
    path = tmp_path / "run.jsonl"
    model = mlp()
    with (
        pytest.warns(GradtopWarning, match="line limit of gradtop's reader") as caught,
        gradtop.Logger(path, model) as log,
    ):
        _train(log, model, 3)
    assert len([w for w in caught if "line limit" in str(w.message)]) == 1
    assert len(steps(read_records(path))) == 3


def test_a_layer_name_utf8_cannot_hold_never_stops_training(tmp_path: Path) -> None:
    """``add_module`` accepts a lone surrogate; the Logger must not raise for it."""
    model = torch.nn.Sequential()
    model.add_module("a\ud800b", torch.nn.Linear(3, 3))
    model.add_module("ok", torch.nn.Linear(3, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "run.jsonl"
    with pytest.warns(GradtopWarning, match="lone surrogates") as caught:
        log = gradtop.Logger(path, model, optimizer=opt)
        for _ in range(3):
            opt.zero_grad()
            model(torch.randn(2, 3)).sum().backward()
            log.log(1.0)
            opt.step()
        log.close()
    assert len([w for w in caught if issubclass(w.category, GradtopWarning)]) == 1
    records = read_records(path)
    names = [p.name for p in headers(records)[0].params]
    assert names == ["a\\ud800b.weight", "a\\ud800b.bias", "ok.weight", "ok.bias"]
    assert len(steps(records)) == 3 and len(ends(records)) == 1
