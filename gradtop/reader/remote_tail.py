"""The reader SshSource runs on the remote host: a standalone script, stdlib only.

It is sent as ``python3 -c`` (base64, so no shell ever parses it) and never imports
gradtop: the host needs only a Python 3 (3.6 or newer). It follows one file by name the
way ``FileSource`` does locally, and streams only new bytes to stdout in frames of
``KIND LENGTH\\n`` + payload:

* ``I`` the file is open: JSON ``{"dev", "ino", "size", "offset"}``; data from ``offset``
  of this file follows.
* ``D`` bytes at the current position; ``E`` caught up (payload: the size read to).
* ``R`` the bytes that follow start the file again at 0: ``truncated`` or ``replaced``.
* ``W`` no file at the path yet; ``G`` the file was deleted (its descriptor is still
  read); ``F`` a fault (payload: what went wrong, e.g. permission denied).
* ``K`` keep-alive, every ``keepalive`` seconds without another frame, so that the
  local side can tell a stalled link from a quiet file.

Resuming: the local side passes the identity (device, inode) it read last, the offset
it has, and SHA-256 digests of the first KiB and of the 64 bytes before that offset.
The same file with the same bytes continues at the offset; the same file with other
bytes is ``R truncated``; another file is ``R replaced``. Nothing is lost or repeated.

It exits quietly when stdout closes (the link dropped): the next frame fails.
"""

import base64
import contextlib
import hashlib
import json
import os
import stat
import sys
import time

HEAD = 1024  # as FileSource's FINGERPRINT_BYTES
TAIL = 64  # as FileSource's TAIL_BYTES
CHUNK = 1 << 20


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Follow:
    def __init__(self, args):
        self.path = os.path.expanduser(args["path"])
        self.pos = int(args["offset"])
        self.ident = tuple(args["ident"]) if args.get("ident") else None
        self.check = (args.get("head"), args.get("tail")) if self.pos else None
        self.tick = float(args["tick"])
        self.keepalive = float(args["keepalive"])
        self.out = sys.stdout.buffer
        self.fd = None
        self.head = b""
        self.tail = b""
        self.note = None  # the last W/G/F frame sent, not repeated
        self.caught_up = None
        self.sent_at = time.monotonic()

    def send(self, kind, payload=b""):
        self.out.write(kind + b" %d\n" % len(payload) + payload)
        self.out.flush()
        self.sent_at = time.monotonic()

    def tell(self, kind, text):
        if self.note != (kind, text):
            self.note = (kind, text)
            self.send(kind, text.encode("utf-8", "replace"))

    def restart(self, kind):
        self.send(b"R", kind)
        self.pos, self.head, self.tail, self.caught_up = 0, b"", b"", None

    def open(self):
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            if self.ident is None:
                self.tell(b"W", "no such file on host")
            else:
                self.tell(b"G", "file deleted on host: waiting for it to reappear")
            return False
        except OSError as exc:
            self.tell(b"F", f"cannot open on host: {exc.strerror or exc}")
            return False
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            self.tell(b"F", f"cannot read on host: {kind}")
            return False
        ident = (st.st_dev, st.st_ino)
        if self.ident is not None and ident != self.ident:
            self.restart(b"replaced")
        elif self.check is not None and not self.same_bytes(fd, st.st_size):
            self.restart(b"truncated")
        self.check = None
        self.ident, self.fd, self.note = ident, fd, None
        if self.pos:
            self.head = os.pread(fd, min(self.pos, HEAD), 0)
            self.tail = os.pread(fd, min(self.pos, TAIL), self.pos - min(self.pos, TAIL))
        info = {"dev": ident[0], "ino": ident[1], "size": st.st_size, "offset": self.pos}
        self.send(b"I", json.dumps(info).encode())
        return True

    def same_bytes(self, fd, size):
        """The file still holds, up to our offset, the bytes the local side has."""
        if size < self.pos:
            return False
        head, tail = self.check
        n = min(self.pos, TAIL)
        return (
            digest(os.pread(fd, min(self.pos, HEAD), 0)) == head
            and digest(os.pread(fd, n, self.pos - n)) == tail
        )

    def truncated(self):
        fd = self.fd
        if os.fstat(fd).st_size < self.pos:
            return not os.pread(fd, 1, self.pos - 1)
        if self.head and os.pread(fd, len(self.head), 0) != self.head:
            return True
        n = len(self.tail)
        return bool(n) and os.pread(fd, n, self.pos - n) != self.tail

    def read_on(self):
        """Send what is new in the open file; True when the path now names another file."""
        if self.truncated():
            self.restart(b"truncated")
        self.drain()
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self.tell(b"G", "file deleted on host: waiting for it to reappear")
            st = None
        except OSError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) != self.ident:
            self.drain()  # what was written to the old file before the switch is not lost
            os.close(self.fd)
            self.fd = None
            return True
        if self.caught_up != self.pos:
            self.caught_up = self.pos
            self.send(b"E", b"%d" % self.pos)
        return False

    def drain(self):
        while True:
            data = os.pread(self.fd, CHUNK, self.pos)
            if not data:
                return
            if self.pos < HEAD:
                self.head = (self.head + data)[:HEAD]
            self.tail = (self.tail + data)[-TAIL:]
            self.pos += len(data)
            self.caught_up = None
            self.send(b"D", data)

    def run(self):
        while True:
            if (self.fd is not None or self.open()) and self.read_on():
                continue
            if time.monotonic() - self.sent_at >= self.keepalive:
                self.send(b"K")
            time.sleep(self.tick)


def main():
    args = json.loads(base64.b64decode(sys.argv[1]).decode("utf-8"))
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        Follow(args).run()
    with contextlib.suppress(OSError):
        sys.stdout.close()
    os._exit(0)


if __name__ == "__main__":
    main()
