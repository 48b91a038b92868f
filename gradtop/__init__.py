"""gradtop: live, per-layer gradient health of PyTorch training, in a terminal.

``import gradtop`` must stay cheap and torch-free, because the viewer imports it on
machines that have no torch. ``gradtop.Logger`` is therefore resolved lazily: torch is
imported the first time a training script asks for the logger, never before.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("gradtop-live")  # the distribution's name on PyPI
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from gradtop.logger import Logger

__all__ = ["Logger", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Logger":
        from gradtop.logger import Logger

        return Logger
    raise AttributeError(f"module 'gradtop' has no attribute {name!r}")
