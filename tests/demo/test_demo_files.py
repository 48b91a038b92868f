"""What ``gradtop demo`` leaves on disk: nothing without ``--out``, however it ends.

An hour of the live lesson wrote a 38 MB file into a temporary folder and left it there;
a second demo chosen with ``c`` was appended to the file named after the first. These
run the real command in a real process (a pty for the live lesson) with ``TMPDIR``
pointed at the test's own folder, and look at what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gradtop.demos.demo_command import DemoFiles
from tests.ui.pty_terminal import PtyApp, gradtop_argv


def _env(tmp: Path) -> dict[str, str]:
    return dict(os.environ, TMPDIR=str(tmp))


def _left(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("gradtop-demo-*"))


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_headless_without_out_removes_its_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*gradtop_argv("demo", "vanishing", "--no-ui", "--steps", "30")],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "writing " + str(tmp_path) in proc.stdout, "it wrote into the temporary folder"
    assert _left(tmp_path) == [], "the temporary folder is removed"
    assert "removed" in proc.stdout and "--out FILE" in proc.stdout
    assert " --out " not in proc.stdout.split("removed")[0], "no command names a removed file"


def test_headless_with_out_keeps_its_file(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    proc = subprocess.run(
        [*gradtop_argv("demo", "vanishing", "--no-ui", "--steps", "30", "--out", str(out))],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0 and f"gradtop watch {out}" in proc.stdout
    assert _left(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_interrupted_demo_removes_its_file(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*gradtop_argv("demo", "vanishing", "--no-ui", "--steps", "1000000")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    try:
        _wait_for(
            lambda: any(p.stat().st_size > 0 for p in tmp_path.glob("gradtop-demo-*/*.jsonl")),
            "training to write its file",
        )
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert _left(tmp_path) == [], f"left behind after {sig.name}"


def test_each_demo_gets_its_own_file_beside_out(tmp_path: Path) -> None:
    files = DemoFiles(str(tmp_path / "run.jsonl"))
    assert files.path_for("vanishing") == str(tmp_path / "run.jsonl")
    assert files.path_for("exploding") == str(tmp_path / "run-exploding.jsonl")
    assert files.path_for("vanishing") == str(tmp_path / "run.jsonl"), "its own file again"
    assert files.folder is None, "--out makes no temporary folder"


@pytest.mark.slow
def test_live_lesson_second_demo_has_its_own_file_and_both_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # PtyApp's child inherits the environment
    app = PtyApp(gradtop_argv("demo", "vanishing", "--steps", "60", "--delay", "0"), 120, 40)

    def files() -> dict[str, Path]:
        return {p.stem: p for p in tmp_path.glob("gradtop-demo-*/*.jsonl") if p.stat().st_size}

    try:
        # Wait through the pty, reading it: a dashboard whose output nobody reads blocks
        # on its terminal once the pty's buffer is full, and then no key is handled.
        app.wait_for(lambda _: "vanishing" in files(), "the first demo's file", timeout=120)
        app.send(b"c")
        app.wait_for(lambda out: b"Choose a demo" in out, "the demo picker")
        app.send(b"\x1b[B\r")  # down to the next demo, Enter
        app.wait_for(lambda _: len(files()) == 2, "the second demo's own file", timeout=120)
        (second,) = set(files()) - {"vanishing"}
        first = files()["vanishing"].read_bytes()
        assert b'"demo":"vanishing"' in first
        assert f'"demo":"{second}"'.encode() not in first, "appended to the first demo's file"
    finally:
        status = app.close(timeout=60)
    assert status == 0
    assert _left(tmp_path) == [], "both demos' files are removed on quit"
