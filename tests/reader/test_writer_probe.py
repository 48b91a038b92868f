"""A writer process that no longer exists is "dead" at once, not "live 14 s ago".

Real processes throughout: a sleeping child killed and reaped, one killed and left a
zombie, and a real ``gradtop.Logger`` in a child that exits without closing its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gradtop.reader import FileReader
from gradtop.reader.writer_probe import WriterProbe, process_alive
from gradtop.session import Session, liveness
from gradtop.ui.headline import _liveness_fragment

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    child = _sleeper()
    try:
        assert process_alive(child.pid, started_before=time.time()) is True
    finally:
        child.kill()
        child.wait()
    assert process_alive(child.pid) is False


def test_a_zombie_is_dead() -> None:
    child = _sleeper()
    os.kill(child.pid, signal.SIGKILL)
    try:
        deadline = time.monotonic() + 10
        state = ""
        while time.monotonic() < deadline:
            state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"  # the control: not reaped yet, the pid still exists
        assert process_alive(child.pid) is False
    finally:
        child.wait()


def test_a_process_started_after_the_header_is_another_one() -> None:
    """A reused pid: this process exists, but it started long after a header of an hour ago."""
    assert process_alive(os.getpid(), started_before=time.time()) is True
    assert process_alive(os.getpid(), started_before=time.time() - 3600) is False


def test_the_probe_answers_only_for_this_host() -> None:
    probe = WriterProbe()
    here = socket.gethostname()
    assert probe(here, os.getpid(), time.time()) is True
    assert probe("another-box", os.getpid(), time.time()) is None
    assert probe(here, 0, time.time()) is None  # no pid recorded: cannot tell
    assert probe("", os.getpid(), time.time()) is None


WRITER = textwrap.dedent(
    """
    import os, sys, time, torch, gradtop
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = gradtop.Logger(sys.argv[1], model, optimizer=opt)
    for _ in range(5):
        loss = model(torch.randn(16, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        log.log(loss)
        opt.step()
    deadline = time.monotonic() + 60  # the writer thread writes in its own time
    while open(sys.argv[1]).read().count('"kind":"step"') < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    {end}
    """
)


def _logged_run(tmp_path: Path, end: str) -> tuple[Session, Path]:
    path = tmp_path / "run.jsonl"
    code = WRITER.format(end=end)
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    session = Session()
    with FileReader(path) as reader:
        while not (got := reader.read()).status.at_eof:
            session.feed("f", got.records)
        session.feed("f", got.records)
    return session, path


def test_a_logger_killed_without_closing_is_a_dead_writer(tmp_path: Path) -> None:
    session, _path = _logged_run(tmp_path, "os._exit(0)  # no close(), no end record")
    run = session.run("f")
    assert run is not None and run.end is None and run.last_step is not None
    assert run.header.host == socket.gethostname() and run.header.pid > 0
    now = time.time()
    # Without a probe the records are seconds old: the age alone says "live".
    assert liveness(run, None, now).state == "live"
    live = liveness(run, None, now, writer_alive=WriterProbe())
    assert live.state == "dead" and live.detail == str(run.header.pid)
    text, tone = _liveness_fragment(live)
    assert "DEAD writer" in text and str(run.header.pid) in text and tone == "error-reverse"
    # The same run read on a machine of another name: unknown, judged by age again.
    assert liveness(run, None, now, writer_alive=WriterProbe("elsewhere")).state == "live"


def test_a_closed_run_is_finished_though_its_writer_exited(tmp_path: Path) -> None:
    session, _path = _logged_run(tmp_path, "log.close()")
    run = session.run("f")
    assert run is not None and run.end is not None
    live = liveness(run, None, time.time(), writer_alive=WriterProbe())
    assert live.state == "finished"
