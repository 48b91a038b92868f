"""Trainer side of gradtop: the only part of the package that imports torch.

``gradtop.Logger`` (resolved lazily by ``gradtop/__init__.py``) is the public entry point.
"""

from __future__ import annotations

from gradtop.logger.logger import Logger
from gradtop.logger.writer import GradtopWarning

__all__ = ["GradtopWarning", "Logger"]
