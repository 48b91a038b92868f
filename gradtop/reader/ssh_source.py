"""SshSource: a log on another host, streamed over the user's own ``ssh``.

``gradtop watch gpu7:runs/run.jsonl`` runs ``ssh`` as the user would (their config,
keys, agent, jump hosts: nothing here reads ``~/.ssh``), with ``BatchMode=yes`` so a
password or host-key prompt becomes a one-line error instead of a hang, and
``ServerAliveInterval`` so a dead link is noticed. Only new bytes cross the link:

* **python** (when the host has ``python3``): ``remote_tail.py`` follows the file by
  name on the host and reports its identity, so truncation and rotation there become
  ``Restart(TRUNCATED)`` / ``Restart(REPLACED)`` here, exactly as for a local file.
* **tail** (no ``python3``, or ``GRADTOP_SSH_READER=tail``): ``tail -c +OFFSET -F``.
  It cannot say when the file was truncated or replaced (``reason`` says so): a
  half-written line may then join the next file's first line, and a reconnect after
  one resumes at the old byte offset of the new file.

The link is a fault like any other: state and message say what happened, what comes
next first ("no such file on host", "link lost: reconnecting in 4 s (ssh: Connection to
gpu7 closed by remote host.)", "cannot connect: retrying in 8 s (ssh: Could not resolve
hostname gpu7 ...)"), and the next look reconnects, with backoff, resuming at the byte
after the last one received: the record layer keeps a half-received line, so nothing is
lost or repeated. ``read`` never raises.

Environment: ``GRADTOP_SSH`` replaces the ``ssh`` command (split like a shell line, e.g.
``ssh -F ~/gradtop_ssh_config``); ``GRADTOP_SSH_READER=tail`` skips python on the host;
``GRADTOP_SSH_PYTHON`` names the host's interpreter (default ``python3``).
POSIX only (it waits on pipes with ``selectors``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gradtop.reader.pace import TICK
from gradtop.reader.source import REPLACED, TRUNCATED, Restart
from gradtop.reader.status import DELETED, ERROR, FOLLOWING, WAITING

SSH_ENV = "GRADTOP_SSH"
READER_ENV = "GRADTOP_SSH_READER"
PYTHON_ENV = "GRADTOP_SSH_PYTHON"
HEAD_BYTES = 1024  # what the host checks before resuming (as FileSource's fingerprint)
TAIL_BYTES = 64
KEEPALIVE = 2.0  # seconds between the host reader's keep-alive frames on a quiet file
JUNK_BYTES = 16 << 10  # a login script's output skipped before the reader's frames
QUEUE_BYTES = 8 << 20  # received, not yet read: beyond it ssh's pipe is left to fill
STALL_AFTER = 15.0  # seconds without a byte from the host: the link is stalled
CONNECT_TIMEOUT = 10  # ssh's ConnectTimeout, seconds
BACKOFF = (1, 2, 4, 8, 15, 30)  # seconds before each reconnection attempt
TAIL_REASON = "truncation and rotation go unseen"
_SCRIPT = base64.b64encode((Path(__file__).with_name("remote_tail.py")).read_bytes()).decode()
_NOISE = ("Warning: Permanently added",)  # ssh's stderr lines that are no error


@dataclass(frozen=True)
class RemoteSpec:
    """``[user@]host:path`` split; ``text`` is what the user typed."""

    host: str
    path: str
    text: str


def parse_remote(spec: str) -> RemoteSpec | None:
    """``[user@]host:path`` as a RemoteSpec, or None for a local path.

    Like scp: a colon before any slash makes it remote. A local file that exists wins,
    so ``a:b`` that exists is local; ``./a:b`` and ``/x/a:b`` are always local.
    ``[::1]:path`` is an IPv6 host. A host starting with ``-`` is never remote (it would
    be an ssh option).
    """
    if ":" not in spec or os.path.exists(spec):
        return None
    if spec.startswith("["):
        host, sep, path = spec[1:].partition("]:")
    else:
        host, sep, path = spec.partition(":")
    if not sep or not host or not path or "/" in host or host.startswith("-"):
        return None
    if os.name == "nt" and len(host) == 1:  # C:\runs\run.jsonl
        return None
    return RemoteSpec(host, path, spec)


class SshSource:
    """A remote file streamed over ssh (a ``Source``). Never raises on link problems.

    ``follow=False`` (a one-shot ``gradtop check``) makes the first link failure final;
    otherwise every look after a failure reconnects when its backoff is over. ``ssh``
    is the command to run (default: ``GRADTOP_SSH`` or ``ssh``); ``reader`` is "auto"
    (python on the host when there) or "tail" (default: ``GRADTOP_SSH_READER``);
    ``python`` is the host's interpreter (default: ``GRADTOP_SSH_PYTHON`` or python3).
    """

    def __init__(
        self,
        remote: RemoteSpec,
        *,
        tick: float = TICK,
        follow: bool = True,
        ssh: Sequence[str] | None = None,
        reader: str | None = None,
        python: str | None = None,
        stall_after: float = STALL_AFTER,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self.remote = remote
        self.tick = tick
        self.follow = follow
        self.ssh = list(ssh) if ssh is not None else shlex.split(os.environ.get(SSH_ENV, "ssh"))
        self.reader = reader or os.environ.get(READER_ENV, "auto")
        self.python = python or os.environ.get(PYTHON_ENV, "python3")
        self.stall_after = stall_after
        self.backoff = tuple(backoff) or (1.0,)
        self._proc: subprocess.Popen[bytes] | None = None
        self._sel: selectors.BaseSelector | None = None
        self._rx = bytearray()  # stdout bytes not parsed into frames yet
        self._err = b""  # the tail of ssh's stderr for this connection
        self._junk = b""  # lines on stdout before the reader's first frame (a login banner)
        self._raw = False  # this connection is tail: stdout is the file's bytes
        self._established = False  # this connection reached the file (a frame about it)
        self._noted = False
        self._last_rx = 0.0
        self._queue: deque[bytes | Restart] = deque()
        self._queued = 0  # bytes in the queue
        self._ident: tuple[int, int] | None = None
        self._recv = 0  # bytes received of the current stream (where a reconnect resumes)
        self._head = b""  # its first HEAD_BYTES, and its last TAIL_BYTES
        self._tail = b""
        self._yielded = 0
        self._size = 0
        self._caught_up = False
        self._state = WAITING
        self._message = f"connecting to {remote.host}"
        self._mode_note = ""  # "python3 reader" or "tail -F", once known
        self._failures = 0  # connection attempts in a row that did not reach the file
        self._ever_streamed = False
        self._retry_at = 0.0
        self._at_eof = False
        self._closed = False
        self._lock = threading.Lock()  # close() from another thread vs the reading one
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # ------------------------------------------------------------------ Source

    @property
    def name(self) -> str:
        return self.remote.text

    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        return self._message

    @property
    def size(self) -> int:
        return self._size

    @property
    def offset(self) -> int:
        return self._yielded

    @property
    def at_eof(self) -> bool:
        return self._at_eof

    @property
    def mode(self) -> str:
        return "polling"

    @property
    def reason(self) -> str:
        how = self._mode_note or "a reader"
        text = f"over ssh: {how} on {self.remote.host}, every {self.tick:g} s"
        if not self._raw:
            return text
        why = f"{READER_ENV}=tail" if self.reader == "tail" else f"no {self.python} there"
        return f"{text} ({why}: {TAIL_REASON})"

    @property
    def pid(self) -> int | None:
        """The local ssh process of the current connection (None between connections)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def read(self, max_bytes: int | None = None) -> Iterator[bytes | Restart]:
        budget = max_bytes if max_bytes is not None and max_bytes > 0 else None
        self._at_eof = False
        if self._queued < QUEUE_BYTES:  # else let the pipe fill: the host then waits
            self._pump(0.0)
        if not self._queue and self._proc is not None and not self._established:
            self._await_contact()
        elif not self._queue and not self._idle():
            self._pump(self.tick)  # the host has more: give it a tick
        spent = 0
        while self._queue and (budget is None or spent < budget):
            piece = self._queue.popleft()
            if isinstance(piece, Restart):
                self._yielded = 0
                yield piece
                continue
            if budget is not None and len(piece) > budget - spent:
                piece, rest = piece[: budget - spent], piece[budget - spent :]
                self._queue.appendleft(rest)
            self._queued -= len(piece)
            self._yielded += len(piece)
            spent += len(piece)
            yield piece
        self._at_eof = not self._queue and self._idle()

    def wait(self, timeout: float | None = None) -> bool:
        timeout = self.tick if timeout is None else max(timeout, 0.0)
        if self._queue:
            return True
        before = (len(self._queue), self._state, self._message)
        self._pump(timeout)
        return bool(self._queue) or before != (len(self._queue), self._state, self._message)

    def wake(self) -> None:
        with self._lock:  # never after close: the descriptor number may be another file's
            if not self._closed:
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"!")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):  # a wait in another thread ends now
                os.write(self._wake_w, b"!")
            self._closed = True
        self._drop()
        with self._lock:
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> SshSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the link

    def _idle(self) -> bool:
        """Nothing more to expect right now: caught up, or no link to read from."""
        return self._caught_up or self._proc is None

    def _pump(self, timeout: float) -> bool:
        """Connect when due, then take what ssh sent within ``timeout`` seconds.

        True when ``wake`` ended it early."""
        if self._closed:
            return True
        now = time.monotonic()
        if self._proc is None:
            if now < self._retry_at:
                if self._sleep(min(timeout, self._retry_at - now)):
                    return True
                if time.monotonic() < self._retry_at:
                    return False
            self._connect()
            if self._proc is None:
                return False
        sel = self._sel
        assert sel is not None
        deadline = now + timeout
        while True:
            try:
                ready = sel.select(max(deadline - time.monotonic(), 0.0))
            except (OSError, ValueError):  # closed from another thread meanwhile
                return True
            got = False
            for key, _events in ready:
                if key.fd == self._wake_r:
                    self._drain_wake()
                    return True
                got = self._take(key.fileobj) or got  # type: ignore[arg-type]
                if self._proc is None:
                    return False
            if got or time.monotonic() >= deadline:
                break
        if (
            self._proc is not None
            and not self._raw  # tail -F sends no keep-alive: ssh's ServerAlive decides
            and self.stall_after > 0
            and time.monotonic() - self._last_rx > self.stall_after
        ):
            why = f"nothing from the host for {self.stall_after:g} s"
            if self._established:
                self._lost("link stalled", why)
            else:
                self._failed("cannot connect", why)
        return False

    def _await_contact(self) -> None:
        """Until this connection reaches the file and sends its first bytes (or says it
        is caught up), fails, or is woken: a consumer must not read "no file yet" or "no
        run yet" into a link that is still being set up."""
        deadline = time.monotonic() + CONNECT_TIMEOUT + 5
        while self._proc is not None and not (
            self._established and (self._queue or self._caught_up)
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                self._failed("cannot connect", f"no answer in {CONNECT_TIMEOUT + 5} s")
                return
            if self._pump(min(left, 1.0)):
                return

    def _sleep(self, seconds: float) -> bool:
        """Wait on the wake pipe only (between connections); True when woken."""
        if seconds <= 0:
            return False
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            if sel.select(seconds):
                self._drain_wake()
                return True
        return False

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 512):
                pass

    def _connect(self) -> None:
        argv = [
            *self.ssh,
            "-o", "BatchMode=yes",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-T", "-e", "none",
            self.remote.host,
            self._remote_command(),
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # no terminal: ssh can never prompt over the viewer
            )
        except OSError as exc:
            self._failed(f"cannot run {self.ssh[0]}", f"{exc.strerror or exc}; set {SSH_ENV}")
            return
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        try:  # pipes that cannot be waited on (Windows): say so, never raise
            for pipe in (proc.stdout, proc.stderr):
                os.set_blocking(pipe.fileno(), False)
                sel.register(pipe, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
        except (OSError, ValueError) as exc:
            sel.close()
            proc.kill()
            proc.wait()
            self._failed("cannot stream over ssh here", str(exc))
            return
        with self._lock:
            if self._closed:
                proc.kill()
                proc.wait()
                return
            self._proc, self._sel = proc, sel
        self._rx.clear()
        self._err = b""
        self._junk = b""
        self._raw = False
        self._established = False
        self._noted = False  # this connection reported a restart: its message stays
        self._caught_up = False
        self._last_rx = time.monotonic()

    def _remote_command(self) -> str:
        """One line for the remote login shell: ``sh -c`` with everything quoted."""
        path = self.remote.path
        tail = (
            f"printf 'T %s\\n' \"$( (wc -c < {sh_path(path)}) 2>/dev/null || echo -)\"; "
            f"exec tail -c +{self._recv + 1} -F {sh_path(path)}"
        )
        if self.reader == "tail":
            script = tail
        else:
            args = {
                "path": path,
                "offset": self._recv,
                "ident": list(self._ident) if self._ident else None,
                "head": hashlib.sha256(self._head).hexdigest(),
                "tail": hashlib.sha256(self._tail).hexdigest(),
                "tick": self.tick,
                "keepalive": min(KEEPALIVE, self.stall_after / 3) or KEEPALIVE,
            }
            arg = base64.b64encode(json.dumps(args).encode()).decode()
            code = f"import base64;exec(base64.b64decode('{_SCRIPT}'))"
            py = shlex.quote(self.python)
            script = (
                f'if command -v {py} >/dev/null 2>&1; then exec {py} -c "{code}" {arg}; fi; {tail}'
            )
        return f"sh -c {shlex.quote(script)}"

    def _take(self, pipe: object) -> bool:
        """Read what one pipe has; True when the file's stream moved (bytes or news)."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = pipe.fileno()  # type: ignore[attr-defined]
        chunks = []
        eof = False
        while True:
            try:
                data = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not data:
                eof = True
                break
            chunks.append(data)
            if len(chunks) >= 4:  # a bounded take; the rest waits in the pipe
                break
        data = b"".join(chunks)
        if pipe is proc.stdout:
            if data:
                self._last_rx = time.monotonic()
                self._frames(data)
            if eof:
                self._ended()
            return bool(data)
        if data:
            self._err = (self._err + data)[-4096:]
            if self._raw and self._established:  # tail -F's notices ("file truncated")
                line = _last_line(self._err)
                if line:
                    self._message = f"on host: {line}"
        return False

    def _frames(self, data: bytes) -> None:
        if self._raw:
            self._received(data)
            return
        rx = self._rx
        rx += data
        while True:
            end = rx.find(b"\n")
            if end < 0:
                return
            head = bytes(rx[:end])
            kind, _, rest = head.partition(b" ")
            if kind == b"T":  # the tail fallback: a size line, then raw bytes
                del rx[: end + 1]
                self._tail_started(rest)
                raw = bytes(rx)
                rx.clear()
                if raw:
                    self._received(raw)
                return
            try:
                length = int(rest)
            except ValueError:
                if not self._established and len(self._junk) < JUNK_BYTES:
                    # A login script that prints (motd, "Welcome"): skip its lines.
                    self._junk += head[:200] + b"\n"
                    del rx[: end + 1]
                    continue
                self._garbled(head)
                return
            if len(rx) < end + 1 + length:
                return
            payload = bytes(rx[end + 1 : end + 1 + length])
            del rx[: end + 1 + length]
            try:
                self._frame(kind, payload)
            except (ValueError, KeyError, TypeError):  # not our reader talking
                self._garbled(head + b" " + payload[:60])
                return
            if self._proc is None:
                return

    def _garbled(self, what: bytes) -> None:
        """Not the reader's frames (a login banner on stdout, a nologin shell)."""
        why = _printable(what)
        if self._established:
            self._lost("unexpected output from the host", why)
        else:
            self._failed("unexpected output from the host", why)

    def _frame(self, kind: bytes, payload: bytes) -> None:
        if kind == b"D":
            self._received(payload)
        elif kind == b"E":
            self._size = max(int(payload), self._recv)
            self._caught_up = True
        elif kind == b"I":
            info = json.loads(payload)
            self._ident = (info["dev"], info["ino"])
            self._size = info["size"]
            self._reached("python3 reader", info["offset"])
        elif kind == b"R":
            restart = TRUNCATED if payload == b"truncated" else REPLACED
            self._queue.append(Restart(restart))
            self._recv, self._head, self._tail = 0, b"", b""
            self._message = (
                "file truncated on host: reading from the start"
                if restart == TRUNCATED
                else "file replaced on host: following the new file"
            )
            self._caught_up = False
            self._noted = True
        elif kind in (b"W", b"G", b"F"):
            self._mode_note = "python3 reader"
            self._established = True
            self._failures = 0
            self._state = {b"W": WAITING, b"G": DELETED, b"F": ERROR}[kind]
            self._message = payload.decode("utf-8", "replace")
            self._caught_up = True
        # K: keep-alive, already counted as a sign of life

    def _tail_started(self, size: bytes) -> None:
        self._raw = True
        text = size.strip()
        if text.isdigit():
            self._size = max(int(text), self._recv)
            self._reached("tail -F", self._recv)
            self._caught_up = self._recv >= self._size
        else:
            self._established = True
            self._failures = 0
            self._state = WAITING
            self._message = "no such file on host"
            self._caught_up = True

    def _reached(self, how: str, offset: int) -> None:
        """The host has the file open, reading from ``offset`` of it."""
        resumed = self._ever_streamed and offset > 0 and offset == self._recv
        self._mode_note = how
        self._established = True
        self._ever_streamed = True
        self._failures = 0
        self._caught_up = False
        if not self._noted:
            self._message = f"link back: resumed at byte {offset:,}" if resumed else ""
        self._state = FOLLOWING

    def _received(self, data: bytes) -> None:
        if self._recv < HEAD_BYTES:
            self._head = (self._head + data)[:HEAD_BYTES]
        self._tail = (self._tail + data)[-TAIL_BYTES:]
        self._recv += len(data)
        self._queue.append(data)
        self._queued += len(data)
        self._caught_up = False
        if self._raw:  # caught up once past the size the host had at the start
            self._size = max(self._size, self._recv)
            self._caught_up = self._recv >= self._size
            if self._state == WAITING:  # tail -F found the file it was waiting for
                self._state, self._message = FOLLOWING, ""

    def _ended(self) -> None:
        """ssh's stdout closed: the connection is over. Say why, plan the next one."""
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=2)
            if proc.stderr is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._err = (self._err + (proc.stderr.read() or b""))[-4096:]
        said = [line for line in (_last_line(self._err), _last_line(self._junk)) if line]
        why = "; ".join(said) or (f"ssh exited with status {code}" if code else "connection closed")
        if code == 255 and "Permission denied" in why:
            why = why.rstrip(".") + "; gradtop never asks for a password: use a key or ssh-agent"
        elif code == 255 and "Host key verification failed" in why:
            why = (
                why.rstrip(".")
                + f" (connect once with ssh {self.remote.host} to check and accept its key)"
            )
        if not why.startswith("ssh"):
            why = f"ssh: {why}" if code == 255 else why
        if self._established:
            self._lost("link lost", why)
        else:
            self._failed("cannot connect", why)

    def _lost(self, what: str, why: str) -> None:
        """A working link went away: retry soon (the first backoff step)."""
        self._drop()
        self._failures = 0
        self._schedule(what, why, "reconnecting")

    def _failed(self, what: str, why: str) -> None:
        """A connection that never reached the file: back off further each time."""
        self._drop()
        self._schedule(what, why, "retrying")

    def _schedule(self, what: str, why: str, verb: str) -> None:
        """What happened first, so that a narrow header keeps it; ssh's words after."""
        self._state = ERROR
        self._caught_up = True
        if not self.follow:  # final: the words of ssh are the whole story
            self._message = why if what == "cannot connect" else f"{what} ({why})"
            self._retry_at = float("inf")
            return
        delay = self.backoff[min(self._failures, len(self.backoff) - 1)]
        self._failures += 1
        self._retry_at = time.monotonic() + delay
        self._message = f"{what}: {verb} in {delay:g} s ({why})"

    def _drop(self) -> None:
        with self._lock:
            proc, sel = self._proc, self._sel
            self._proc = self._sel = None
        if sel is not None:
            sel.close()
        if proc is None:
            return
        if proc.poll() is None:
            # The whole group: a ProxyCommand or jump-host ssh it started goes with it.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._rx.clear()
        self._raw = False


def sh_path(path: str) -> str:
    """The path for sh: quoted, with a leading ``~/`` left to the host's $HOME."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + shlex.quote(path[1:]) if path != "~" else '"$HOME"'
    return shlex.quote(path)


def _last_line(data: bytes) -> str:
    lines = [
        line.strip()
        for line in data.decode("utf-8", "replace").replace("\r", "\n").splitlines()
        if line.strip() and not line.strip().startswith(_NOISE)
    ]
    return _printable(lines[-1].encode()) if lines else ""


def _printable(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)[:200]
