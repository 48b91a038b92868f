"""The viewer path must never load torch, and the pure parts must never load Textual.

Lint (ruff banned-api per folder) catches direct imports; only a fresh interpreter can
prove that nothing pulls them in transitively. Modules are discovered by walking the
package, so a new module is covered the day it is added.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import gradtop

TRAINER_SIDE = ("gradtop.logger", "gradtop.integrations", "gradtop.demos")
UI = ("gradtop.ui",)


def _modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(gradtop.__path__, "gradtop.")
        if m.name != "gradtop.__main__"
    )


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


def test_viewer_side_never_loads_torch() -> None:
    viewer = [m for m in _modules() if not m.startswith(TRAINER_SIDE)]
    assert "gradtop.cli" in viewer and "gradtop.records" in viewer
    assert "torch" not in _loaded_after_import(viewer)


def test_pure_parts_never_load_textual() -> None:
    pure = [m for m in _modules() if not m.startswith(TRAINER_SIDE + UI) and m != "gradtop.cli"]
    loaded = _loaded_after_import(pure)
    assert not loaded & {"textual", "textual_plotext", "plotext", "torch", "rich"}


def test_cli_help_loads_neither_torch_nor_textual() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from gradtop.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('torch' in sys.modules, 'textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_logger_is_lazy_attribute() -> None:
    """``import gradtop`` is torch-free, yet ``gradtop.Logger`` works for training code."""
    code = (
        "import sys, gradtop\n"
        "before = 'torch' in sys.modules\n"
        "gradtop.Logger\n"
        "print(before, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
