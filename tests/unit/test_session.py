"""The Session: real files through the real FileReader, several sources, runs that go on,
start over or are evicted, and a diagnosis cadence counted in logged steps."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gradtop.diagnosis import Diagnoser, Finding
from gradtop.history import RunHistory
from gradtop.reader import FileReader
from gradtop.records import End, Header, ParamInfo, Step, encode_record
from gradtop.session import (
    CONTINUED,
    DIAGNOSE_EVERY,
    ENDED,
    FORGOTTEN,
    RESTARTED,
    STARTED,
    RunEvent,
    Session,
)

DATA = Path(__file__).resolve().parents[1] / "data"
VANISHING = "vanishing-0002"  # tests/data/vanishing.jsonl: 20 tensors, 200 steps
HEALTHY = "healthy-0001"  # tests/data/healthy.jsonl: 12 tensors, 200 steps


class CountingDiagnoser:
    """The real Diagnoser, recording the run's logged steps at each update."""

    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.inner = Diagnoser()
        self.log = log

    def update(self, run: RunHistory, *, force: bool = False) -> list[Finding]:
        self.log.append((run.run_id, run.steps))
        return self.inner.update(run, force=force)


class BrokenDiagnoser:
    def update(self, run: RunHistory, *, force: bool = False) -> list[Finding]:
        raise ZeroDivisionError("a rule divided by zero")


def _read(session: Session, path: Path, source: str, batch: int = 1 << 20) -> list[RunEvent]:
    """The whole file into ``session`` under ``source``, in reads of ``batch`` bytes."""
    events: list[RunEvent] = []
    with FileReader(path) as reader:
        while True:
            got = reader.read(batch)
            events += session.feed(source, got.records).events
            if got.status.at_eof:
                return events


def _write(path: Path, *parts: bytes) -> Path:
    path.write_bytes(b"".join(parts))
    return path


def _renamed(name: str, old: str, new: str) -> bytes:
    """A fixture file's bytes with its run id replaced."""
    return (DATA / name).read_bytes().replace(f'"{old}"'.encode(), f'"{new}"'.encode())


def _grower(path: Path, reader: FileReader, session: Session) -> Callable[..., list[str]]:
    """Append lines to the file, read what is new into ``session`` (source "s"): the kinds
    of the run events that caused, as a live view reading a growing file sees them."""

    def more(*parts: bytes) -> list[str]:
        with path.open("ab") as f:
            f.write(b"".join(parts))
        return [e.kind for e in session.feed("s", reader.read().records).events]

    return more


def _kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def test_sources_are_kept_apart_even_with_the_same_run_id(tmp_path: Path) -> None:
    """Two files with a run of the same id: each source has its own history and findings."""
    sick = _write(tmp_path / "sick.jsonl", _renamed("vanishing.jsonl", VANISHING, "job"))
    well = _write(tmp_path / "well.jsonl", _renamed("healthy.jsonl", HEALTHY, "job"))
    session = Session()
    assert _read(session, sick, "a") == [RunEvent("a", "job", STARTED)]
    assert _read(session, well, "b") == [RunEvent("b", "job", STARTED)]
    assert session.sources == ("a", "b")
    a, b = session.run("a"), session.run("b")
    assert a is not None and b is not None and a is not b
    assert (len(a.params), len(b.params)) == (20, 12)
    assert "vanishing" in _kinds(session.findings("a", "job"))
    assert "vanishing" not in _kinds(session.findings("b", "job"))
    session.forget("a")
    assert session.sources == ("b",) and session.run("a") is None
    assert session.findings("a", "job") == [] and session.run("b", "job") is b


@pytest.mark.parametrize("batch", [700, 1 << 20])
def test_the_cadence_is_counted_in_logged_steps(batch: int) -> None:
    """Every DIAGNOSE_EVERY logged steps while reading, whatever the read size; a consumer
    asking for findings brings the rest in, once."""
    log: list[tuple[str, int]] = []
    session = Session(lambda: CountingDiagnoser(log))
    _read(session, DATA / "vanishing.jsonl", "v", batch)
    assert log == [(VANISHING, n) for n in range(DIAGNOSE_EVERY, 201, DIAGNOSE_EVERY)]
    assert session.due("v") and session.due() and not session.due("elsewhere")
    assert VANISHING in session.diagnosed("v"), "diagnosed while feeding"
    assert "vanishing" in _kinds(session.findings("v", VANISHING))
    assert log[-1] == (VANISHING, 200) and not session.due()
    session.findings("v", VANISHING)  # nothing new since: no diagnosis
    assert session.refresh() == [] and len(log) == 200 // DIAGNOSE_EVERY + 1


def test_another_cadence_and_a_refresh_over_several_sources() -> None:
    log: list[tuple[str, int]] = []
    session = Session(lambda: CountingDiagnoser(log), diagnose_every=50)
    _read(session, DATA / "vanishing.jsonl", "v", 4096)
    _read(session, DATA / "healthy.jsonl", "h", 4096)
    assert log == [(run, n) for run in (VANISHING, HEALTHY) for n in (50, 100, 150, 200)]
    assert not session.due(), "diagnosed at their last step while feeding: nothing is due"
    session.feed("h", [End(HEALTHY, 201, 1700000300.0, 200)])  # an end is news for the rules
    assert session.due("h") and not session.due("v")
    assert session.refresh() == [("h", HEALTHY)] and log[-1] == (HEALTHY, 200)
    with pytest.raises(ValueError):
        Session(diagnose_every=0)


def _params(n: int) -> tuple[ParamInfo, ...]:
    return tuple(
        ParamInfo(f"l{i}.weight", f"l{i}", "Linear", "weight", (2,), 2, True) for i in range(n)
    )


def _steps(run: str, first: int, last: int, n: int) -> list[bytes]:
    return [
        encode_record(Step(run, s, s, float(s), 1.0, stats={"grad_norm": [1.0] * n}).to_json())
        for s in range(first, last + 1)
    ]


def test_run_events_started_continued_restarted_ended_forgotten(tmp_path: Path) -> None:
    """What History decides, as events: the same header again continues the run (pace
    kept), steps that go back after it restart it, another parameter list restarts it, and
    a run pushed out of the bounded history is forgotten."""
    head = encode_record(Header(run_id="a", time=0.0, params=_params(2)).to_json())
    wider = encode_record(Header(run_id="a", time=0.0, params=_params(3)).to_json())
    path = _write(tmp_path / "run.jsonl", head, *_steps("a", 1, 5, 2))
    session = Session(max_runs=2)
    with FileReader(path) as reader:
        more = _grower(path, reader, session)

        assert more() == [STARTED]
        clock = session.clocks("s")["a"]
        assert more(head, *_steps("a", 6, 8, 2)) == [CONTINUED]  # a Logger reopening its path
        assert session.clocks("s")["a"] is clock and clock.steps_per_second() == 1.0
        run = session.run("s", "a")
        assert run is not None and run.steps == 8
        # The header again, then steps that start over: a new run under the old id.
        assert more(head, *_steps("a", 1, 3, 2)) == [CONTINUED, RESTARTED]
        assert session.clocks("s")["a"] is not clock
        assert more(wider, *_steps("a", 1, 2, 3)) == [RESTARTED]
        assert more(encode_record(End("a", 9, 9.0, 2).to_json())) == [ENDED]
        live = session.liveness("s", "a", 20.0)
        assert live is not None and live.state == "finished"
        assert more(encode_record(Header(run_id="b", time=0.0, params=_params(1)).to_json())) == [
            STARTED
        ]
        fed = session.feed("s", [])
        assert fed.runs == frozenset() and fed.events == ()
        with path.open("ab") as f:
            f.write(encode_record(Header(run_id="c", time=0.0, params=_params(1)).to_json()))
        fed = session.feed("s", reader.read().records)
    assert [(e.run_id, e.kind) for e in fed.events] == [("c", STARTED), ("a", FORGOTTEN)]
    assert fed.runs == {"c"} and list(session.history("s").runs) == ["b", "c"]
    assert "a" not in session.clocks("s") and session.liveness("s", "a", 0.0) is None


def test_findings_survive_a_continued_run_and_not_a_restarted_one(tmp_path: Path) -> None:
    """Read as a live view reads: the file grows under one reader and one session."""
    lines = (DATA / "vanishing.jsonl").read_bytes().splitlines(keepends=True)
    path = _write(tmp_path / "run.jsonl", *lines[:101])  # header, 100 steps
    session = Session()
    with FileReader(path) as reader:
        more = _grower(path, reader, session)

        assert more() == [STARTED]
        assert "vanishing" in _kinds(session.findings("s", VANISHING))
        # The Logger writes its header again after a rotation and goes on: same run.
        assert more(lines[0], *lines[101:]) == [CONTINUED]
        run = session.run("s", VANISHING)
        assert run is not None and run.steps == 200
        assert "vanishing" in _kinds(session.findings("s", VANISHING))
        # The same id with another parameter list (the healthy run's): findings start over.
        assert more(_renamed("healthy.jsonl", HEALTHY, VANISHING)) == [RESTARTED]
    run = session.run("s", VANISHING)
    assert run is not None and len(run.params) == 12 and run.steps == 200
    assert "vanishing" not in _kinds(session.findings("s", VANISHING))
    assert session.history("s").restarted == 1


def test_a_failing_diagnosis_propagates_unless_contained() -> None:
    strict = Session(BrokenDiagnoser)
    with pytest.raises(ZeroDivisionError):
        _read(strict, DATA / "vanishing.jsonl", "v")
    contained = Session(BrokenDiagnoser, contain_errors=True)
    _read(contained, DATA / "vanishing.jsonl", "v")
    assert contained.findings("v", VANISHING) == []
    assert (
        contained.diagnosis_error == "diagnosis failed: ZeroDivisionError: a rule divided by zero"
    )
    silent = Session(None)  # no diagnosis at all: no findings, nothing is due afterwards
    _read(silent, DATA / "vanishing.jsonl", "v")
    assert silent.findings("v", VANISHING) == [] and not silent.due()


def test_the_viewer_model_needs_no_textual() -> None:
    """ui/model.py is pure: importing it (and the package) must not load the app."""
    code = (
        "import sys\n"
        "import gradtop.ui.model, gradtop.session\n"
        "print('textual' in sys.modules, 'rich' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
