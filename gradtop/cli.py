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


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--poll",
    is_flag=True,
    default=None,
    help="Poll the file instead of relying on filesystem events (network filesystems).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(0.1, 10.0),
    default=0.5,
    show_default=True,
    help="Seconds between screen updates; raise it on a slow link.",
)
def watch(path: str, poll: bool | None, refresh: float) -> None:
    """Live dashboard of a gradtop log: per-layer gradient health, loss, findings.

    Built for SSH: run it on the training machine. PATH may not exist yet; gradtop waits
    for it and follows it as it grows, is truncated or replaced. Press ? for keys.
    """
    from gradtop.ui import run_watch

    run_watch(path, poll=poll, refresh=refresh)
