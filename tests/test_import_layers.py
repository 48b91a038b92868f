"""The layers of docs/architecture.md hold, and every deferred import is one we chose.

import-linter checks the contracts in pyproject.toml over the whole import graph
(function-level imports included). A deferred import can hide a cycle or pull a heavy
library into the wrong process, so each one must be listed, with its reason, in
docs/architecture.md; this test reads that table and the source and compares them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import gradtop

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(gradtop.__file__).parent
DOC = ROOT / "docs" / "architecture.md"
# Libraries whose import costs seconds or belongs to one side only.
HEAVY = {
    "torch", "textual", "textual_plotext", "plotext", "rich", "watchdog", "numpy",
    "transformers", "lightning", "pytorch_lightning", "accelerate",
}  # fmt: skip


def test_layer_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run(
        [str(lint), "--no-cache"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in out.stdout


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _deferred_imports() -> set[tuple[str, str]]:
    """(module, imported) for imports inside functions, outside ``if TYPE_CHECKING``."""
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, module: str, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                else:
                    names = [child.module or ""]
                for name in names:
                    if name.startswith("gradtop") or name.split(".")[0] in HEAVY:
                        found.add((module, name))
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, module, in_function or nested)

    for path in sorted(PACKAGE.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), _module_name(path), False)
    return found


def _listed() -> dict[tuple[str, str], str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- deferred-imports: begin -->")[1].split(
        "<!-- deferred-imports: end -->"
    )[0]
    rows = re.findall(r"^\| `([\w.]+)` \| `([\w.]+)` \| (.*?) \|$", table, flags=re.M)
    return {(module, imported): why.strip() for module, imported, why in rows}


def test_every_deferred_import_is_listed_with_its_reason() -> None:
    found, listed = _deferred_imports(), _listed()
    assert ("gradtop.cli", "gradtop.ui") in found  # the control: the scan sees them
    unlisted = sorted(found - listed.keys())
    stale = sorted(listed.keys() - found)
    assert not unlisted, f"deferred imports missing from docs/architecture.md: {unlisted}"
    assert not stale, f"docs/architecture.md lists deferred imports that are gone: {stale}"
    assert all(listed.values()), "every deferred import needs its reason"
