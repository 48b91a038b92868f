"""``gradtop demo NAME --no-ui``: train a demo into a file and print what gradtop finds.

For classroom preparation and tests. The run is read back exactly as ``gradtop check``
reads it (``Check``, over the viewer's ``Session``), so the printed findings are
those ``gradtop watch`` and ``gradtop check`` would show for the same file. Then the
lesson: what you see, why, what fixes it, and which ``--fix`` to try next.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Callable

import torch

from gradtop.check import Check, read_all, why_unreadable
from gradtop.check_text import format_summary
from gradtop.demos.runner import TRAIN_THREADS
from gradtop.demos.scenarios import SCENARIOS, run_scenario
from gradtop.teaching import texts
from gradtop.teaching.lesson import Advice, Demo, LessonState, advise, worst_by_kind

Echo = Callable[[str], None]
PROGRESS_LINES = 10


def fix_label(lang: str, demo: Demo, fix_id: str) -> str:
    """``ReLU (Sigmoid → ReLU)``: the fix's name and exactly what it changes."""
    return f"{texts.fix(lang, fix_id)['label']} ({demo.fix(fix_id).change})"


def run_headless(
    state: LessonState,
    out: str,
    echo: Echo,
    *,
    steps: int | None = None,
    seed: int = 0,
    lang: str = "en",
    color: bool = False,
    keep: bool = True,
) -> int:
    """Train, report, teach. Returns the exit code (0; 2 when the file cannot be read back).

    ``keep=False``: ``out`` is a temporary file removed when the command ends, so the
    commands suggested next do not name it."""
    demo = state.demo
    width = min(100, max(40, shutil.get_terminal_size((88, 24)).columns - 2))
    total = steps if steps is not None else SCENARIOS[demo.scenario].steps
    text = texts.scenario(lang, demo.name)
    echo(f"gradtop demo {demo.name}: {text['title']}")
    echo(f"  {text['line']}")
    changes = ", ".join(fix_label(lang, demo, f) for f in state.applied)
    echo(f"  {texts.ui(lang, 'changes')}: {changes or texts.ui(lang, 'broken')}")
    echo(f"  {texts.ui(lang, 'writing', path=out)}")
    every = max(1, total // PROGRESS_LINES)

    def progress(step: int, loss: float) -> None:
        if (step + 1) % every == 0 or step + 1 == total or not math.isfinite(loss):
            shown = f"{loss:.4g}" if math.isfinite(loss) else str(loss)
            echo("  " + texts.ui(lang, "progress", step=step + 1, steps=total, loss=shown))

    session_id = uuid.uuid4().hex[:12]
    torch.set_num_threads(TRAIN_THREADS)  # as in the live lesson: the claims hold there
    result = run_scenario(
        demo.scenario,
        total,
        out,
        seed=seed,
        meta=state.meta(session_id),
        on_step=progress,
        **state.overrides(),
    )
    if result.steps < total and result.first_nonfinite_loss is not None:
        first = result.first_nonfinite_loss + 1  # 1-based, as the progress lines count
        echo("  " + texts.ui(lang, "stopped_nonfinite", done=result.steps, first=first))

    check = Check(out, fail_on="never")
    status = read_all(check)
    reason = why_unreadable(check, status)
    run = check.selected()
    if reason is not None or run is None:
        echo(f"gradtop demo: cannot read the run back: {reason}")
        return 2
    findings = check.findings(run)
    echo("")
    echo(format_summary(check.summary(status), color))
    _teach(state, lang, width, echo)
    advice = advise(state, findings, run.steps, finished=True)
    verdict = _verdict_line(advice, lang, worst_by_kind(findings))
    if verdict:
        echo("")
        echo(verdict)
    _next(state, advice, out if keep else None, lang, echo)
    return 0


def _teach(state: LessonState, lang: str, width: int, echo: Echo) -> None:
    text = texts.scenario(lang, state.demo.name)
    for section in texts.SECTIONS:
        echo("")
        echo(texts.ui(lang, section))
        for line in texts.wrap(text[section], width - 2):
            echo(f"  {line}")
    for fix_id in state.applied:
        echo("")
        echo(fix_label(lang, state.demo, fix_id))
        for line in texts.wrap(texts.fix(lang, fix_id)["what"], width - 2):
            echo(f"  {line}")


def _verdict_line(advice: Advice, lang: str, worst: dict[str, int]) -> str:
    claim = advice.claim
    if claim is None or advice.verdict in ("", "wait"):
        return ""
    if advice.verdict == "bad":
        names = [k for k in (*claim.clears, *claim.softens) if worst.get(k, -1) >= 0]
        return texts.ui(lang, "claim_bad", kinds=texts.kind_list(lang, names or claim.clears))
    kinds = texts.kind_list(lang, claim.clears or claim.softens)
    if advice.verdict == "traded":
        new = texts.kind_list(lang, advice.new_kinds)
        key = "claim_traded" if claim.clears else "claim_soft_traded"
        return texts.ui(lang, key, kinds=kinds, new=new)
    key = "claim_ok" if advice.verdict == "ok" else "claim_soft_ok"
    return texts.ui(lang, key, kinds=kinds)


def _next(state: LessonState, advice: Advice, out: str | None, lang: str, echo: Echo) -> None:
    """Commands for the next fixes: on top of this run's, or alone on the original net."""
    steps = [(*state.applied, f) for f in advice.suggest]
    steps += [(f,) for f in advice.alternatives]
    if not steps:
        return
    echo("")
    echo(texts.ui(lang, "try_headless"))
    lang_flag = " --lang zh" if lang == "zh" else ""
    for fixes in steps:
        flags = " ".join(f"--fix {f}" for f in fixes)
        out_flag = f" --out {out}" if out is not None else ""
        cmd = f"gradtop demo {state.demo.name} --no-ui {flags}{lang_flag}{out_flag}"
        echo(f"  {fix_label(lang, state.demo, fixes[-1])}:")
        echo(f"    {cmd}")
