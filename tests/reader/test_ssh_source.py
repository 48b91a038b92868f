"""SshSource against a real OpenSSH server on localhost, started and stopped by the test.

The "remote host" is this machine through ``sshd -D`` on a free port with a throw-away
host key and user key in a temporary folder; the client side is the real ``ssh`` with a
config file the test writes (``GRADTOP_SSH="ssh -F CONFIG"``, as a user would point
gradtop at their own). Every check compares the exact (kind, run, seq) of each record
the writer wrote with what arrived: nothing lost, nothing twice. The tests skip, with
the reason, where ``sshd`` is not installed (``.ci/run`` installs it when apt works).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gradtop.reader import FileReader, FileSource, ReaderStatus, SshSource, follow, open_source
from gradtop.reader.ssh_source import READER_ENV, SSH_ENV, RemoteSpec, parse_remote
from gradtop.reader.status import DELETED, FOLLOWING
from gradtop.records import Record
from tests.reader.gradwriter import header_line, step_line
from tests.reader.reader_harness import Key, header_key, key, step_keys

DEADLINE = 30.0  # seconds; only ever reached when a test is about to fail
N = 3
SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None
)
NO_SSH = "OpenSSH's client (ssh, ssh-keygen) is not installed: apt-get install openssh-client"
NO_SSHD = (
    "OpenSSH's server (sshd) is not installed: apt-get install openssh-server "
    "(.ci/run installs it when apt can)"
)
needs_ssh = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None, reason=NO_SSH
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(what: Callable[[], bool], message: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not what():
        assert time.monotonic() < end, f"timed out waiting: {message}"
        time.sleep(0.02)


class Sshd:
    """An sshd of our own: its config, keys and the ssh client config that reaches it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "user_key", "stranger_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)],
                check=True,
            )
        (root / "authorized_keys").write_bytes((root / "user_key.pub").read_bytes())
        self.port = _free_port()
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
            f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin yes\nLogLevel ERROR\n"
        )
        self.config = root / "ssh_config"
        self.config.write_text(
            f"Host localhost\n  HostName 127.0.0.1\n  Port {self.port}\n"
            f"  User {getpass.getuser()}\n  IdentityFile {root / 'user_key'}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {root / 'known_hosts'}\n"
            "  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n"
            # A key the server does not know, and a host key the client has never seen.
            f"Host denied\n  HostName 127.0.0.1\n  Port {self.port}\n"
            f"  IdentityFile {root / 'stranger_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {root / 'known_hosts'}\n  StrictHostKeyChecking no\n"
            f"Host unknown-key\n  HostName 127.0.0.1\n  Port {self.port}\n"
            f"  IdentityFile {root / 'user_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {root / 'never_known'}\n  StrictHostKeyChecking yes\n"
        )
        self.ssh = ["ssh", "-F", str(self.config)]
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        assert SSHD is not None
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "sshd.log", "wb"),  # noqa: SIM115 (closed with the process)
        )
        _until(self._answers, f"sshd on port {self.port} ({self.log()})")

    def _answers(self) -> bool:
        assert self.proc.poll() is None, f"sshd exited: {self.log()}"
        probe = subprocess.run(
            [*self.ssh, "-o", "BatchMode=yes", "localhost", "true"],
            capture_output=True,
            timeout=DEADLINE,
            check=False,
        )
        return probe.returncode == 0

    def log(self) -> str:
        return (self.root / "sshd.log").read_text(errors="replace")[-2000:]

    def sessions(self) -> list[int]:
        """The per-connection sshd processes (the children of ours)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    def kill_sessions(self) -> int:
        """Every connection dies at the server, as when the network goes away."""
        pids = self.sessions()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip(NO_SSH)
    if SSHD is None:
        pytest.skip(NO_SSHD)
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


class Follower:
    """The follow loop in a thread over an SshSource; a test waits on what it collected."""

    def __init__(self, source: SshSource, tick: float = 0.05) -> None:
        self.source = source
        self.reader = FileReader(source)
        self.records: list[Record] = []
        self.status: ReaderStatus = self.reader.status
        self.messages: list[str] = []
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._tick = tick
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for turn in follow(self.reader, stop=self._stop, tick=self._tick):
                with self._cond:
                    self.records.extend(turn.batch.records)
                    self.status = turn.batch.status
                    message = turn.batch.status.message
                    if message and (not self.messages or self.messages[-1] != message):
                        self.messages.append(message)
                    self._cond.notify_all()
        except BaseException as exc:
            with self._cond:
                self.error = exc
                self._cond.notify_all()

    def keys(self) -> list[Key]:
        with self._cond:
            return [key(r) for r in self.records]

    def wait_for(self, what: Callable[[Follower], bool], deadline: float = DEADLINE) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self.error is not None or what(self), deadline)
        if self.error is not None:
            raise self.error
        assert ok, f"timed out; records={len(self.records)} status={self.status} {self.messages}"

    def wait_keys(self, expected: list[Key]) -> None:
        self.wait_for(lambda f: len(f.records) >= len(expected))
        assert self.keys() == expected  # every record once, in order

    def close(self) -> None:
        self._stop.set()
        self.source.wake()
        self._thread.join(timeout=10)
        self.reader.close()


def _source(sshd: Sshd, path: Path, **kw: object) -> SshSource:
    spec = parse_remote(f"localhost:{path}")
    assert spec is not None
    return SshSource(spec, ssh=sshd.ssh, tick=0.05, **kw)  # type: ignore[arg-type]


def _append(path: Path, *lines: bytes) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(lines))


def _steps(run: str, start: int, count: int) -> list[bytes]:
    return [step_line(run, s, N) for s in range(start, start + count)]


# ---------------------------------------------------------------------------- the link


@pytest.mark.parametrize(
    ("reader", "python", "used"),
    [
        ("auto", "python3", "python3 reader"),
        ("tail", "python3", "tail -F"),  # forced (GRADTOP_SSH_READER=tail)
        ("auto", "python3-not-on-this-host", "tail -F"),  # the host's own fallback
    ],
)
def test_first_records_growth_and_a_killed_link_lose_and_repeat_nothing(
    sshd: Sshd, tmp_path: Path, reader: str, python: str, used: str
) -> None:
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 10))
    f = Follower(_source(sshd, path, reader=reader, python=python, backoff=(0.2,)))
    try:
        expected = [header_key("a"), *step_keys("a", 0, 10)]
        f.wait_keys(expected)  # the first records
        assert f.status.state == FOLLOWING
        assert used in f.source.reason
        assert ("truncation and rotation go unseen" in f.source.reason) == (used == "tail -F")
        _append(path, *_steps("a", 10, 5))  # growth
        expected += step_keys("a", 10, 5)
        f.wait_keys(expected)

        # Half a record, then the link dies at the server; the rest is written meanwhile.
        line = step_line("a", 15, N)
        _append(path, line[:40])
        f.wait_for(lambda f: f.status.partial == 40)
        first_pid = f.source.pid
        assert sshd.kill_sessions() >= 1
        f.wait_for(lambda f: any(m.startswith("link lost") for m in f.messages))
        lost = next(m for m in f.messages if "link lost" in m)
        assert lost.startswith("link lost: reconnecting in 0.2 s (ssh: Connection to"), lost
        _append(path, line[40:], *_steps("a", 16, 4))
        expected += step_keys("a", 15, 5)
        f.wait_keys(expected)
        assert f.source.pid != first_pid

        # And again, killing the local ssh instead (a laptop's lid, a dead VPN).
        os.kill(f.source.pid or 0, signal.SIGKILL)
        _append(path, *_steps("a", 20, 3))
        expected += step_keys("a", 20, 3)
        f.wait_keys(expected)
        f.wait_for(lambda f: f.status.message.startswith("link back: resumed at byte"))
        assert f.status.skipped == {} and f.status.state == FOLLOWING
        assert f.status.offset == path.stat().st_size  # every byte, once
    finally:
        f.close()


def test_a_login_script_that_prints_is_skipped(sshd: Sshd, tmp_path: Path) -> None:
    """Lines on stdout before the reader's first frame (a banner from .bashrc), here from
    a wrapper around ssh, which puts them in the same pipe."""
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 3))
    wrapper = ["sh", "-c", 'printf "Welcome to gpu7\\nE 99 not a frame\\n"; exec "$@"', "sh"]
    spec = parse_remote(f"localhost:{path}")
    assert spec is not None
    f = Follower(SshSource(spec, ssh=[*wrapper, *sshd.ssh], tick=0.05))
    try:
        f.wait_keys([header_key("a"), *step_keys("a", 0, 3)])
    finally:
        f.close()


def test_truncation_and_rotation_on_the_host_restart_the_stream(sshd: Sshd, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 20))
    f = Follower(_source(sshd, path))
    try:
        expected = [header_key("a"), *step_keys("a", 0, 20)]
        f.wait_keys(expected)
        path.write_bytes(header_line("b", N) + b"".join(_steps("b", 0, 3)))  # copytruncate
        expected += [header_key("b"), *step_keys("b", 0, 3)]
        f.wait_keys(expected)
        assert f.status.truncations == 1 and "truncated on host" in " ".join(f.messages)

        old = tmp_path / "run.jsonl.1"
        path.rename(old)  # rotation: what the writer adds to the old file still arrives
        _append(old, *_steps("b", 3, 2))
        path.write_bytes(header_line("c", N) + b"".join(_steps("c", 0, 2)))
        expected += [*step_keys("b", 3, 2), header_key("c"), *step_keys("c", 0, 2)]
        f.wait_keys(expected)
        assert f.status.rotations == 1 and "replaced on host" in " ".join(f.messages)

        path.unlink()
        f.wait_for(lambda f: f.status.state == DELETED)
        _append(path, header_line("d", N))
        expected += [header_key("d")]
        f.wait_keys(expected)
        assert f.status.rotations == 2
    finally:
        f.close()


def test_a_killed_link_after_a_truncation_resumes_in_the_new_stream(
    sshd: Sshd, tmp_path: Path
) -> None:
    """The host checks the bytes before the offset: truncated while the link was down."""
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 5))
    f = Follower(_source(sshd, path, backoff=(0.5,)))
    try:
        expected = [header_key("a"), *step_keys("a", 0, 5)]
        f.wait_keys(expected)
        sshd.kill_sessions()
        f.wait_for(lambda f: f.source.pid is None)
        # Rewritten to a longer file while nobody looked: the size alone would not tell.
        path.write_bytes(header_line("b", N) + b"".join(_steps("b", 0, 9)))
        expected += [header_key("b"), *step_keys("b", 0, 9)]
        f.wait_keys(expected)
        assert f.status.truncations == 1
    finally:
        f.close()


def test_a_stalled_link_is_dropped_and_resumed(sshd: Sshd, tmp_path: Path) -> None:
    """The server stops answering (SIGSTOP), but the TCP connection stays up."""
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 3))
    f = Follower(_source(sshd, path, stall_after=1.5, backoff=(0.2,)))
    stopped = []
    try:
        expected = [header_key("a"), *step_keys("a", 0, 3)]
        f.wait_keys(expected)
        stopped = sshd.sessions()
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        _append(path, *_steps("a", 3, 4))
        expected += step_keys("a", 3, 4)
        f.wait_keys(expected)
        assert any(
            m.startswith("link stalled: reconnecting in 0.2 s (nothing from the host for 1.5 s)")
            for m in f.messages
        )
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGKILL)
        f.close()


# ---------------------------------------------------------------------------- the command


def _gradtop(sshd: Sshd, *args: str, reader: str = "auto") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gradtop", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        check=False,
        env={**os.environ, SSH_ENV: " ".join(sshd.ssh), READER_ENV: reader, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize("reader", ["auto", "tail"])
def test_check_reads_a_remote_file(sshd: Sshd, tmp_path: Path, reader: str) -> None:
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 7))
    proc = _gradtop(sshd, "check", f"localhost:{path}", reader=reader)
    assert proc.returncode == 0, proc.stderr
    assert "7 logged" in proc.stdout
    # Following: the link is set up before the first report (no "waiting for it to appear").
    proc = _gradtop(
        sshd, "check", "--follow", "--idle-exit", "1", f"localhost:{path}", reader=reader
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"gradtop check  localhost:{path}\n"), proc.stdout
    assert "7 logged" in proc.stdout and "waiting" not in proc.stdout


@pytest.mark.parametrize("reader", ["auto", "tail"])
def test_a_path_no_shell_may_split_or_expand(sshd: Sshd, tmp_path: Path, reader: str) -> None:
    path = tmp_path / "it's a $HOME `run` ; x.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 3))
    proc = _gradtop(sshd, "check", f"localhost:{path}", reader=reader)
    assert proc.returncode == 0, proc.stderr
    assert "3 logged" in proc.stdout


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nope.invalid:/run.jsonl", "ssh: Could not resolve hostname nope.invalid"),
        ("localhost:/nonexistent/run.jsonl", "no such file: localhost:/nonexistent/run.jsonl"),
        ("localhost:/", "localhost:/: cannot read on host: a directory"),
        ("denied:/x", "Permission denied (publickey); gradtop never asks for a password"),
        (
            "unknown-key:/x",
            "ssh: Host key verification failed (connect once with ssh unknown-key to",
        ),
    ],
)
def test_a_bad_host_or_path_is_one_line_and_exit_2(sshd: Sshd, spec: str, says: str) -> None:
    proc = _gradtop(sshd, "check", spec)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradtop check: ") and says in lines[0], lines


def test_a_missing_file_waits_then_follows(sshd: Sshd, tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    f = Follower(_source(sshd, path))
    try:
        f.wait_for(lambda f: f.status.message == "no such file on host")
        _append(path, header_line("a", N), *_steps("a", 0, 2))
        f.wait_keys([header_key("a"), *step_keys("a", 0, 2)])
    finally:
        f.close()


@needs_ssh
def test_a_refused_connection_backs_off_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host closed\n  HostName 127.0.0.1\n  Port {_free_port()}\n")
    source = SshSource(
        RemoteSpec("closed", "/x", "closed:/x"), ssh=["ssh", "-F", str(config)], backoff=(1, 2)
    )
    f = Follower(source)
    try:
        f.wait_for(lambda f: "retrying in 2 s" in f.status.message)
        first = "cannot connect: retrying in 1 s (ssh: connect to host 127.0.0.1 port"
        assert f.messages[-2].startswith(first) and "Connection refused" in f.messages[-2]
        assert f.status.state == "error"
    finally:
        f.close()


def test_watch_worker_reads_a_remote_file_and_follows_it(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gradtop watch host:path``'s reader worker (minus Textual's screen), as the app runs it."""
    from gradtop.ui.follower import FollowOptions, follow_into_app
    from gradtop.ui.messages import ModelReplaced, ReaderFailed
    from gradtop.ui.model import WatchModel

    monkeypatch.setenv(SSH_ENV, " ".join(sshd.ssh))
    path = tmp_path / "run.jsonl"
    _append(path, header_line("a", N), *_steps("a", 0, 5))
    posted: list[object] = []
    stop, resume = threading.Event(), threading.Event()
    resume.set()
    options = FollowOptions(f"localhost:{path}", tick=0.05)
    worker = threading.Thread(
        target=follow_into_app, args=(options, WatchModel, posted.append, stop, resume)
    )
    worker.start()
    try:
        _until(lambda: any(isinstance(m, ModelReplaced) for m in posted), "the first model")
        replaced = [m for m in posted if isinstance(m, ModelReplaced)]
        assert [m.phase for m in replaced] == ["complete"]  # no local quick read of host:path
        model = replaced[0].model
        _append(path, *_steps("a", 5, 3))

        def steps() -> int:
            with model.lock:
                return model.history.runs["a"].steps

        _until(lambda: steps() == 8, "the appended steps")
        assert not [m for m in posted if isinstance(m, ReaderFailed)]
    finally:
        stop.set()
        worker.join(DEADLINE)  # the worker wakes itself within a tick
    assert not worker.is_alive()


@needs_ssh
def test_quitting_watch_while_ssh_still_connects_ends_the_worker_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that never answers: the stop wakes the source; it does not wait for ssh."""
    from gradtop.ui.follower import FollowOptions, follow_into_app
    from gradtop.ui.messages import ModelChanged
    from gradtop.ui.model import WatchModel

    config = tmp_path / "ssh_config"
    proxy = tmp_path / "proxy.pid"
    config.write_text(f"Host hang\n  ProxyCommand sh -c 'echo $$ > {proxy}; exec sleep 600'\n")
    monkeypatch.setenv(SSH_ENV, f"ssh -F {config}")
    posted: list[object] = []
    stop, resume = threading.Event(), threading.Event()
    resume.set()
    options = FollowOptions("hang:/run.jsonl", tick=0.05)
    worker = threading.Thread(
        target=follow_into_app, args=(options, WatchModel, posted.append, stop, resume)
    )
    worker.start()
    _until(lambda: any(isinstance(m, ModelChanged) for m in posted), "the first status")
    _until(lambda: proxy.exists() and proxy.read_text().strip() != "", "ssh to be connecting")
    stop.set()
    worker.join(DEADLINE)
    assert not worker.is_alive()
    statuses = [m.status for m in posted if isinstance(m, ModelChanged) and m.status]
    # Woken, not timed out: the link was still being set up when the worker ended.
    assert statuses[0].message == "connecting to hang"
    assert statuses[-1].state == "waiting" and statuses[-1].message == "connecting to hang"
    pid = int(proxy.read_text())  # ssh's ProxyCommand goes with it, not left behind
    _until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), "the ProxyCommand to end")


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


# ---------------------------------------------------------------------------- FILE argument


def test_which_file_arguments_are_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_remote("gpu7:runs/run.jsonl") == RemoteSpec(
        "gpu7", "runs/run.jsonl", "gpu7:runs/run.jsonl"
    )
    assert parse_remote("me@gpu7:/data/r.jsonl") == RemoteSpec(
        "me@gpu7", "/data/r.jsonl", "me@gpu7:/data/r.jsonl"
    )
    assert parse_remote("[::1]:r.jsonl") == RemoteSpec("::1", "r.jsonl", "[::1]:r.jsonl")
    for local in ("run.jsonl", "./a:b", "dir/a:b", "/x/a:b", "host:", ":x", "-oX=y:z"):
        assert parse_remote(local) is None, local
    (tmp_path / "a:b").write_text("")
    assert parse_remote("a:b") is None  # a local file that exists wins
    local, remote = open_source("a:b"), open_source("gpu7:r.jsonl")
    try:
        assert isinstance(local, FileSource) and isinstance(remote, SshSource)
    finally:
        local.close()
        remote.close()


# Remote directories and globs (gradtop watch host:dir/), listed over the same ssh.


def test_a_remote_directory_and_glob_are_listed(sshd: Sshd, tmp_path: Path) -> None:
    from gradtop.reader.remote_list import list_remote

    top = tmp_path / "runs"
    for name in ("a.jsonl", "x/b.jsonl", "x/y/c.jsonl", "x/y/z/deep.jsonl", ".h/d.jsonl", "e.txt"):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_bytes(header_line("r", N))
    listed = list_remote(parse_remote(f"localhost:{top}/"), sshd.ssh)  # type: ignore[arg-type]
    assert listed.error == ""
    assert listed.files == [f"localhost:{top}/{n}" for n in ("a.jsonl", "x/b.jsonl", "x/y/c.jsonl")]
    glob = list_remote(parse_remote(f"localhost:{top}/x/*.jsonl"), sshd.ssh)  # type: ignore[arg-type]
    assert glob.files == [f"localhost:{top}/x/b.jsonl"] and glob.error == ""
    missing = list_remote(parse_remote(f"localhost:{top}/nope/"), sshd.ssh)  # type: ignore[arg-type]
    assert missing.files == [] and "cannot list" in missing.error and "nope" in missing.error
    denied = list_remote(parse_remote(f"denied:{top}/"), sshd.ssh)  # type: ignore[arg-type]
    assert denied.files == [] and "Permission denied" in denied.error
    unsafe = list_remote(parse_remote("localhost:runs/*$(touch x).jsonl"), sshd.ssh)  # type: ignore[arg-type]
    assert unsafe.files == [] and "may hold only" in unsafe.error


async def test_watch_a_remote_directory_lists_and_opens_its_runs(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run list over ssh: files in the remote directory listed, one added later."""
    from gradtop.ui.run_list_app import RunListApp
    from tests.support import wait_until

    monkeypatch.setenv(SSH_ENV, " ".join(sshd.ssh))
    top = tmp_path / "runs"
    top.mkdir()
    (top / "one.jsonl").write_bytes(header_line("r1", N) + step_line("r1", 1, N))
    app = RunListApp([f"localhost:{top}/"], tick=0.05, remote_rescan=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.list_screen
        await wait_until(
            pilot,
            lambda: [(r.name, r.step) for r in screen.rows] == [("one", 1)],
            "the remote file listed and read",
            timeout=DEADLINE,
        )
        (top / "two.jsonl").write_bytes(header_line("r2", N) + step_line("r2", 1, N))
        with (top / "one.jsonl").open("ab") as f:
            f.write(step_line("r1", 2, N))
        await wait_until(
            pilot,
            lambda: sorted((r.name, r.step) for r in screen.rows) == [("one", 2), ("two", 1)],
            "a file added later and a step appended, over ssh",
            timeout=DEADLINE,
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is not screen, "its dashboard", timeout=DEADLINE)
        assert app.path == f"localhost:{top}/one.jsonl"
