"""Which log files ``gradtop watch DIR`` (or several files or globs) follows.

A directory means every ``*.jsonl`` in it and in its subdirectories down to
``MAX_DEPTH`` (``runs/exp1.jsonl`` and ``runs/exp1/gradtop.jsonl`` are both common);
a glob means its matches; anything else is one file, which may not exist yet, local or
``[user@]host:path``. A viewer expands the targets again on a timer: a run that starts
later in a watched directory is added. A remote directory (``host:dir/``, with its
slash) or glob is handed back for the caller to list over ssh (``remote_list``).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gradtop.reader.ssh_source import parse_remote

MAX_DEPTH = 3  # DIR/a.jsonl, DIR/x/a.jsonl, DIR/x/y/a.jsonl
MAX_FILES = 1000  # a directory of logs, not a home directory: the rest are counted
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Targets:
    files: list[str]  # in the order the user named them, each directory's sorted
    errors: list[str] = field(default_factory=list)  # one line each, for the user
    left_out: int = 0  # files past MAX_FILES
    # Remote directories (``host:dir/``) and globs: listed over ssh by the caller, in a
    # thread (``remote_list.list_remote``: a round trip, seconds when the link is slow).
    remote_listings: list[str] = field(default_factory=list)


def is_listing(spec: str) -> bool:
    """Whether ``spec`` names a set of files (a directory or a glob, local or remote:
    ``host:dir/`` with its slash), not one file."""
    remote = parse_remote(spec)
    if remote is not None:
        return remote.path.endswith("/") or _has_glob(remote.path)
    return os.path.isdir(spec) or _has_glob(spec)


def expand(specs: Sequence[str]) -> Targets:
    """The files ``specs`` name now, each once."""
    files: list[str] = []
    seen: set[str] = set()
    errors: list[str] = []
    listings: list[str] = []
    left_out = 0

    def add(path: str) -> None:
        nonlocal left_out
        key = path if parse_remote(path) is not None else os.path.abspath(path)
        if key in seen:
            return
        if len(files) >= MAX_FILES:
            left_out += 1
            return
        seen.add(key)
        files.append(path)

    for spec in specs:
        remote = parse_remote(spec)
        if remote is not None:
            if _has_glob(remote.path) or remote.path.endswith("/"):
                listings.append(spec)
            else:
                add(spec)
        elif os.path.isdir(spec):
            for path in _jsonl_under(spec):
                add(path)
        elif _has_glob(spec):
            for path in sorted(glob.glob(spec, recursive=True), key=natural):
                if not os.path.isdir(path):
                    add(path)
        else:
            add(spec)
    return Targets(files, errors, left_out, listings)


def natural(name: str) -> list[int | str]:
    """Sort key: ``exp2`` before ``exp10``, as a person numbers runs."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _has_glob(spec: str) -> bool:
    return any(c in spec for c in GLOB_CHARS)


def _jsonl_under(top: str) -> list[str]:
    found: list[str] = []
    base = top.rstrip(os.sep).count(os.sep)
    for here, dirs, names in os.walk(top, onerror=lambda _e: None):
        if here.rstrip(os.sep).count(os.sep) - base >= MAX_DEPTH - 1:
            dirs.clear()  # deeper files are not listed
        dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=natural)
        found += [os.path.join(here, n) for n in sorted(names, key=natural) if n.endswith(".jsonl")]
        if len(found) > MAX_FILES:
            break
    return found
