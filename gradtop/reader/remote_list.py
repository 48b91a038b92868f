"""The logs a remote directory or glob names (``gradtop watch gpu7:runs/``), over ssh.

One short ssh command per look, through the same ``ssh`` as ``SshSource`` (the user's
config, keys and agent; ``GRADTOP_SSH`` replaces it) with ``BatchMode=yes``, so it can
never prompt. The host's ``sh`` does the listing, so nothing but a POSIX shell is needed
there: ``find`` for a directory (to ``targets.MAX_DEPTH``, hidden folders skipped), the
shell's own expansion for a glob. A glob is expanded by the remote shell, so it may only
hold characters that cannot start a command there (no ``;``, ``$``, quotes...).

Each look blocks for up to ``CONNECT_TIMEOUT`` + a few seconds: call it from a thread.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass

from gradtop.reader.ssh_source import CONNECT_TIMEOUT, SSH_ENV, RemoteSpec, sh_path
from gradtop.reader.targets import MAX_DEPTH, MAX_FILES, natural

LIST_TIMEOUT = CONNECT_TIMEOUT + 10  # seconds for one look, connection included
SAFE_GLOB = re.compile(r"[A-Za-z0-9_./*?\[\]~+,=@%-]+")


@dataclass(frozen=True)
class Listed:
    files: list[str]  # as ``host:path`` specs, in natural order (exp2 before exp10)
    error: str = ""  # one line for the user ("" when the look worked)


def list_remote(remote: RemoteSpec, ssh: list[str] | None = None) -> Listed:
    """The ``*.jsonl`` files the remote directory or glob names now (never raises)."""
    ssh = ssh if ssh is not None else shlex.split(os.environ.get(SSH_ENV, "ssh"))
    path = remote.path
    if path.endswith("/"):
        top = sh_path(path.rstrip("/") or "/")
        script = (  # hidden folders below the top are skipped, as in a local directory
            f"[ -d {top} ] || {{ echo 'no such directory' >&2; exit 1; }}; "
            f"find {top}/ -mindepth 1 -maxdepth {MAX_DEPTH} -name '.*' -prune "
            f"-o -type f -name '*.jsonl' -print | head -n {MAX_FILES}"
        )
    else:
        pattern = path
        if not SAFE_GLOB.fullmatch(pattern):
            allowed = "letters, digits and _./*?[]~+,=@%-"
            return Listed([], f"{remote.text}: a remote glob may hold only {allowed}")
        if pattern.startswith("~/"):
            pattern = '"$HOME"/' + pattern[2:]
        script = f'for f in {pattern}; do [ -f "$f" ] && printf "%s\\n" "$f"; done'
    argv = [
        *ssh,
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-T", "-e", "none",
        remote.host,
        f"sh -c {shlex.quote(script)}",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=LIST_TIMEOUT,
            start_new_session=True,  # no terminal: ssh can never prompt over the viewer
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Listed([], f"{remote.text}: no answer from {remote.host} in {LIST_TIMEOUT} s")
    except OSError as exc:
        return Listed([], f"{remote.text}: cannot run {ssh[0]}: {exc.strerror or exc}")
    found = [line for line in done.stdout.decode(errors="replace").splitlines() if line]
    if done.returncode != 0 and not found:
        why = _last_line(done.stderr) or f"ssh exited with {done.returncode}"
        return Listed([], f"{remote.text}: cannot list: {why}")
    files = [f"{remote.host}:{p}" for p in found if p.endswith(".jsonl")]
    return Listed(sorted(files, key=natural))


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
