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


def test_pure_ui_builders_never_load_textual() -> None:
    """The builders decide what the screen says; a test (or another front end) must be
    able to use them without a terminal library."""
    from gradtop.ui import PURE_BUILDERS

    loaded = _loaded_after_import([f"gradtop.ui.{name}" for name in PURE_BUILDERS])
    assert not loaded & {"textual", "textual_plotext", "plotext", "torch", "watchdog"}


def test_every_ui_module_is_a_builder_or_a_widget() -> None:
    """A new ui module must choose: pure (listed in PURE_BUILDERS) or a Textual module."""
    from gradtop.ui import PURE_BUILDERS

    ui = [m for m in _modules() if m.startswith("gradtop.ui.")]
    widgets = [m for m in ui if m.removeprefix("gradtop.ui.") not in PURE_BUILDERS]
    assert set(PURE_BUILDERS) <= {m.removeprefix("gradtop.ui.") for m in ui}
    for module in widgets:
        assert "textual" in _loaded_after_import([module]), (
            f"{module} loads no Textual: add it to gradtop.ui.PURE_BUILDERS"
        )


def test_trainer_side_never_loads_the_viewer_libraries() -> None:
    """A training job must not pull in a terminal UI or a file watcher."""
    trainer = [m for m in _modules() if m.startswith(TRAINER_SIDE)]
    assert "gradtop.logger.logger" in trainer and "gradtop.integrations.hf" in trainer
    loaded = _loaded_after_import(trainer)
    assert "torch" in loaded  # the control: these modules really were imported
    assert not loaded & {"textual", "textual_plotext", "plotext", "watchdog"}


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
