"""The ``gradtop`` command line.

Each subcommand imports what it needs inside its own function, so ``gradtop --help``
and ``gradtop check`` never pay for torch (seconds) or Textual.
"""

from __future__ import annotations

import click

from gradtop import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="gradtop")
def main() -> None:
    """Show whether a PyTorch model's gradients are healthy, layer by layer.

    Log from your training loop with gradtop.Logger (see README.md), then read the
    JSONL file it writes with the subcommands below.
    """
