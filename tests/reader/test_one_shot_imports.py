"""A one-shot ``gradtop check`` never imports watchdog; ``--follow`` does, and still works.

The file watcher is only needed to wait for more data, so ``FileSource`` starts it on
its first wait. Run as a real subprocess of the real command, with ``-X importtime``
listing every module the interpreter imported; the ``--follow`` run is the control that
shows the listing would name watchdog if it were loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
DEADLINE = 60.0


def _check(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``gradtop check ARGS``; the process and the top-level packages it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gradtop", "check", *args],
        check=False,  # the exit code is asserted by each test
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=DEADLINE,
    )
    imported = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            imported.add(name.split(".", 1)[0])
    return proc, imported


def test_one_shot_check_loads_no_watchdog() -> None:
    proc, imported = _check(str(DATA / "healthy.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "steps" in proc.stdout and "gradtop" in imported  # it read and reported the file
    assert "watchdog" not in imported


def test_follow_loads_the_watcher_and_ends_on_idle(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes((DATA / "healthy.jsonl").read_bytes())
    proc, imported = _check("--follow", "--idle-exit", "0.3", "--tick", "0.05", str(path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "200 logged" in proc.stdout  # the final summary of the whole file
    assert "watchdog" in imported
