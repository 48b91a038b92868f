"""The installed ``gradtop`` command: no torch means a clear message (exit 2), not a
traceback; with torch, a headless demo writes a file that ``gradtop check`` reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Runs gradtop's CLI in a fresh interpreter where importing torch fails, as it does on a
# machine where only the viewer (pip install gradtop) is installed.
NO_TORCH = (
    "import sys\n"
    "sys.modules['torch'] = None  # makes 'import torch' raise ImportError\n"
    "from gradtop.cli import main\n"
    "sys.argv = ['gradtop', *sys.argv[1:]]\n"
    "main()\n"
)


def _gradtop() -> str:
    exe = shutil.which("gradtop", path=os.path.dirname(sys.executable))
    assert exe is not None, "the gradtop console script is installed next to python"
    return exe


@pytest.mark.parametrize("args", [[], ["dead_relu", "--no-ui"], ["--lang", "zh"]])
def test_without_torch_it_says_how_to_install_it(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "demo", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "gradtop-live[torch]"' in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_without_torch_the_list_still_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "demo", "--list"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "vanishing" in proc.stdout and "exploding_rnn" in proc.stdout


def test_the_installed_command_trains_and_check_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "dead.jsonl"
    demo = subprocess.run(
        [_gradtop(), "demo", "dead_relu", "--no-ui", "--steps", "40", "--out", str(out)],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    assert "All-zero gradients" in demo.stdout and "--fix bias_0" in demo.stdout
    check = subprocess.run(
        [_gradtop(), "check", "--json", str(out)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    summary = json.loads(check.stdout)
    assert check.returncode == 1  # an active critical finding: the lesson's point
    assert {f["kind"] for f in summary["findings"]} >= {"dead_units"}
    assert summary["steps"] == 40
