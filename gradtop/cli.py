"""The ``gradtop`` command line.

Each subcommand imports what it needs inside its own function, so ``gradtop --help``
and ``gradtop check`` never pay for torch (seconds) or Textual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from gradtop import __version__
from gradtop.reader.pace import TICK

F = TypeVar("F", bound=Callable[..., Any])


def _check_thresholds(values: tuple[str, ...]) -> tuple[str, ...]:
    """Validate --threshold early, so a typo is a usage error (exit 2), not a surprise."""
    from gradtop.diagnosis.thresholds import Thresholds

    try:
        Thresholds.from_overrides(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return values


# What `watch` and `check` both take, defined once, so that both read and diagnose a file
# the same way. Each maps to a parameter of the same name (``CheckOptions``, ``run_watch``).
def log_file_argument(*, directories: bool, metavar: str) -> Callable[[F], F]:
    """The logs to read, as PATH (a tuple: ``check A B`` compares two runs; ``watch``
    takes files, directories and globs: several make a run list). ``directories=False``
    makes a directory a usage error; ``check`` takes one and says why it cannot read it
    in its own one-line form.

    FILE may also be ``[user@]host:path`` on another machine, streamed over the user's
    ssh (``gradtop.reader.open_source`` decides: a colon before any slash, like scp;
    a local file that exists wins, and ``./a:b`` is always local)."""
    kind = click.Path(dir_okay=False) if not directories else None
    return click.argument("path", metavar=metavar, type=kind, nargs=-1, required=True)


POLL_OPTION = click.option(
    "--poll",
    is_flag=True,
    default=None,
    help="Poll the file instead of relying on filesystem events (automatic on network "
    "filesystems).",
)
# Seconds between looks at the file when no event arrives: hidden, for tests and slow disks.
TICK_OPTION = click.option("--tick", type=click.FloatRange(0.01, 10.0), default=TICK, hidden=True)
THRESHOLD_OPTION = click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    callback=lambda ctx, param, value: _check_thresholds(value),
    help="Override a diagnosis threshold (repeatable), e.g. vanishing_ratio=1e-4. "
    "Names, defaults and sources: docs/diagnosis.md.",
)


class OneLineErrors(click.Group):
    """Usage errors in one line on stderr, as ``check``'s other errors are (exit 2).

    Click's own form is four lines (usage, hint, blank, error); a CI log or a user who
    mistyped an option needs the one line that says what is wrong and where help is.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        import sys

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "gradtop"
            message = exc.format_message().rstrip(".")
            click.echo(f"{where}: {message} (see {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="gradtop")
def main() -> None:
    """Show whether a PyTorch model's gradients are healthy, layer by layer.

    Log from your training loop with gradtop.Logger (see README.md), then read the
    JSONL file it writes with the subcommands below.
    """


@main.command()
@log_file_argument(directories=True, metavar="FILE|DIR...")
@POLL_OPTION
@click.option(
    "--refresh",
    type=click.FloatRange(0.1, 10.0),
    default=0.5,
    show_default=True,
    help="Seconds between screen updates; raise it on a slow link.",
)
@THRESHOLD_OPTION
@TICK_OPTION
def watch(
    path: tuple[str, ...],
    poll: bool | None,
    refresh: float,
    thresholds: tuple[str, ...],
    tick: float,
) -> None:
    """Live dashboard of a gradtop log: per-layer gradient health, loss, findings.

    Built for SSH: run it on the training machine, or on your laptop with FILE as
    [user@]host:path (your own ssh: config, keys, agent; only new bytes cross the link;
    a dropped link reconnects). FILE may not exist yet; gradtop waits for it and follows
    it as it grows, is truncated or replaced. Press ? for keys.

    \b
    gradtop watch run.jsonl             one run's dashboard
    gradtop watch runs/                 the run list: every *.jsonl in runs/
    gradtop watch 'runs/*.jsonl' a.jsonl    (Enter opens a run, Esc comes back,
    gradtop watch gpu7:runs/                new files are added as they appear)
    gradtop watch before.jsonl after.jsonl  the two compared (Esc: the list)
    """
    from gradtop.ui import run_watch

    paths = path[0] if len(path) == 1 else list(path)
    run_watch(paths, poll=poll, refresh=refresh, thresholds=thresholds, tick=tick)


@main.command()
@log_file_argument(directories=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (per change with --follow).")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep reading as FILE grows (it may not exist yet); report changes until Ctrl-C.",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="With --follow: exit after SECONDS without new data.",
)
@POLL_OPTION
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="Report this run, not the newest: its id or name (Logger(name=...)), or a "
    "unique start or end of the id or start of the name.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "critical", "never"]),
    default="critical",
    show_default=True,
    help="Exit 1 when an active finding at or above this severity exists; 'never' only reports.",
)
@THRESHOLD_OPTION
@TICK_OPTION
def check(**opts: Any) -> None:
    """Report on a gradtop log: the run, its steps, skipped lines and findings.

    Plain text for CI and job logs (colour only on a terminal, never with NO_COLOR),
    or JSON with --json. It reads FILE through the same pipeline as `gradtop watch`;
    FILE may be [user@]host:path on another machine (over your ssh).

    With two files (`gradtop check before.jsonl after.jsonl`) it compares the newest
    run of each: loss, depth ratio, active findings, and a one-line verdict of what
    changed; the exit code is the worse of the two.

    \b
    Exit codes:
      0  healthy: no active finding at or above --fail-on (default: critical)
      1  an active finding at or above --fail-on
      2  unreadable input (missing file, no gradtop run in it, newer format version)
         or a usage error; the reason is printed on stderr in one line
    """
    import os
    import sys

    from gradtop.check import EXIT_UNREADABLE, CheckOptions
    from gradtop.check_command import run_check

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    # Every option maps to a CheckOptions field of the same name (add both together);
    # FILE... is the first path and the others it is compared with.
    first, *others = opts.pop("path")
    options = CheckOptions(color=color, path=first, others=tuple(others), **opts)

    def echo(text: str) -> None:
        click.echo(text, color=color)

    def echo_err(text: str) -> None:
        click.echo(text, err=True, color=False)

    try:
        code = run_check(options, echo, echo_err)
    except KeyboardInterrupt:
        echo_err("gradtop check: interrupted")
        code = 130
    except BrokenPipeError:  # e.g. `gradtop check --follow run.jsonl | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:  # never a traceback in a CI log; GRADTOP_DEBUG=1 shows it
        if os.environ.get("GRADTOP_DEBUG"):
            raise
        echo_err(f"gradtop check: internal error: {type(exc).__name__}: {exc}")
        code = EXIT_UNREADABLE
    sys.exit(code)


@main.command()
@click.argument("name", required=False, metavar="[DEMO]")
@click.option("--list", "list_only", is_flag=True, help="List the demos and their fixes.")
@click.option(
    "--no-ui",
    is_flag=True,
    help="Train without the dashboard: print progress, the findings and the lesson.",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="Optimizer steps (default: the demo's own; longer in the live lesson).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSONL file to write (runs are appended). Default: a new temporary folder.",
)
@click.option(
    "--fix",
    "fixes",
    multiple=True,
    metavar="FIX",
    help="Start with this fix applied (repeatable), e.g. --fix relu --fix he_init.",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="The lesson's language (the dashboard around it stays English; docs/demo.md).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Data and init seed.")
@click.option(
    "--delay",
    type=click.FloatRange(0.0, 5.0),
    default=None,
    help="Seconds of pause after each step in the live lesson, so it can be watched "
    "(default 0.01).",
)
def demo(name: str | None, **opts: Any) -> None:
    """Teach gradient flow: train a small broken net, watch gradtop diagnose it, fix it.

    With no DEMO, the guided lesson on vanishing gradients: a 20-layer sigmoid net
    whose first layers get no gradient. Press a number key to apply a fix (ReLU, He
    init, BatchNorm, learning rate, residual connections); training restarts and the
    runs are compared side by side. t explains why, in English or (--lang zh) Chinese.

    \b
    gradtop demo                      the guided lesson (vanishing gradients)
    gradtop demo --list               every demo and its fixes
    gradtop demo exploding_rnn        another lesson
    gradtop demo vanishing --no-ui --steps 300 --out run.jsonl --fix relu

    Synthetic data, CPU, nothing downloaded; needs torch (pip install "gradtop-live[torch]").
    """
    import sys

    from gradtop.demos.demo_command import DemoOptions, run_demo_command

    # Every option maps to a DemoOptions field of the same name (add both together).
    options = DemoOptions(name=name, **opts)
    sys.exit(run_demo_command(options, click.echo, lambda text: click.echo(text, err=True)))
