"""Run a command in a real pseudo-terminal and collect every byte it writes to the screen.

What the UI tests use to check what actually reaches a terminal (no escape sequence
from the data), the same path a user's SSH session sees.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable


class PtyApp:
    """A child process on a pty of ``cols`` x ``rows``; ``output`` holds all it wrote."""

    def __init__(self, argv: list[str], cols: int = 120, rows: int = 40) -> None:
        self.output = bytearray()
        pid, fd = pty.fork()
        if pid == 0:  # child
            env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
            env.pop("NO_COLOR", None)
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def pump(self, timeout: float = 0.05) -> int:
        """Read whatever is ready; returns the number of bytes read."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return 0
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return 0
        self.output += data
        return len(data)

    def wait_for(
        self, condition: Callable[[bytes], bool], what: str, timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition(bytes(self.output)):
            if time.monotonic() > deadline:
                tail = bytes(self.output[-2000:])
                raise AssertionError(f"timed out waiting for {what}; last output: {tail!r}")
            self.pump()

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self, timeout: float = 10.0) -> int:
        """Quit with ``q``; kill if it does not exit in time. Returns the exit status."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):  # the child may already be gone
            self.send(b"q")
        while time.monotonic() < deadline:
            self.pump()
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self.pump(0.01):
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return -9


def gradtop_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradtop", *args]
