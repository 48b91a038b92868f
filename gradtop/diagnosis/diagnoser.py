"""The Diagnoser: runs the rules over a run's history and keeps findings steady.

Rules say, row by row, how bad things look (with their own persistence); the Diagnoser
replays only the rows it has not seen yet through one small state machine per kind:
raise at the first row a rule flags, escalate at once, de-escalate only after the
higher level has been absent for ``clear_steps`` rows, and clear only after that many
clearly healthy rows (hysteresis: no flicker). Cleared findings are kept, with
``cleared_step`` set, so a student can see that the problem happened and went away.

Because rules are causal (a row's level depends only on earlier rows) and the replay
walks every new row, the reported steps do not depend on how often ``update`` is
called, as long as it is called at least once per ``replay_every`` logged steps (the
window less the rules' longest look-back: 128 at the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gradtop.diagnosis.derived import update_memory
from gradtop.diagnosis.findings import Finding
from gradtop.diagnosis.kinds import KINDS
from gradtop.diagnosis.rules import RULES, Rule
from gradtop.diagnosis.signals import INFO, OFF, Signal, last_on, severity_of
from gradtop.diagnosis.thresholds import Thresholds
from gradtop.diagnosis.view import Memory, Roles, View, build_view, look_back, roles_for
from gradtop.history import RunHistory
from gradtop.records import Header, ParamInfo

MAX_CLEARED = 50
# Logged steps of a run between updates while a file is read in bulk; shared by `gradtop
# check` and `gradtop watch`. The replay sees every row, so a finding that came and went
# early in the file is still reported, and each unseen row keeps the longest look-back of
# a rule (spike_window, 128 rows) inside the default window (256): the same findings at
# the same steps as an update per row. Each evaluation costs about the same whatever
# the rows it replays, so this is most of a big log's diagnosis time (64 cost 1.7x).
REPLAY_EVERY = 128
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}


@dataclass
class _Active:
    finding: Finding
    level: int
    level_row: int  # row at which ``level`` was last seen
    off_run: int = 0
    # The newest flagged step not yet written into ``finding`` (see ``settled``).
    pending_step: int | None = None

    def settled(self) -> Finding:
        """``finding`` with the severity and last step of the newest flagged row.

        Replacing the frozen Finding on every flagged row of a replay cost more than
        the rule that flagged it; only the newest row's values are ever read.
        """
        if self.pending_step is not None:
            self.finding = replace(
                self.finding, severity=severity_of(self.level), last_step=self.pending_step
            )
            self.pending_step = None
        return self.finding


@dataclass
class _RunState:
    header: Header
    roles: Roles
    params: tuple[ParamInfo, ...] = ()  # what ``roles`` were built from
    mem: Memory = field(default_factory=Memory)
    active: dict[str, _Active] = field(default_factory=dict)
    cleared: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evaluated_rows: int = -1
    seen_nonfinite: bool = False


def _reworded(finding: Finding, rule: Rule, view: View, *, born: bool) -> Finding:
    """``finding`` with the words ``rule`` gives at the last row of ``view``, if they
    describe a row of this finding's own span. A rule that reads the whole window may
    describe another row of the cut window: then a finding from an earlier replay keeps
    the words it had (of its own earlier row), and one ``born`` in this replay, whose
    words were another episode's, is left with its kind's name and no claim."""
    sig = next((s for s in rule(view) if s.kind == finding.kind and s.title), None)
    at = None if sig is None else last_on(sig.level)
    if (
        sig is not None
        and at is not None
        and (finding.first_step <= int(view.steps[at]) <= finding.last_step)
    ):
        return _with_words(finding, sig)
    if not born:
        return finding
    return replace(
        finding,
        title=_plain_title(finding.kind),
        params=(),
        evidence=(),
        explanation="",
        fixes=(),
        extra={},
    )


def _plain_title(kind: str) -> str:
    """A finding's title when its rule gave it no words: the kind, said plainly."""
    return kind.replace("_", " ")


def _with_words(finding: Finding, sig: Signal) -> Finding:
    """``finding`` described as ``sig`` describes the newest row it flagged."""
    return replace(
        finding,
        title=sig.title,
        params=sig.params,
        evidence=sig.evidence,
        explanation=sig.explanation,
        fixes=sig.fixes,
        extra={**finding.extra, **sig.extra},
    )


def _clear_order(f: Finding) -> tuple[int, int, int]:
    return (-(f.cleared_step or 0), -f.first_step, _KIND_ORDER.get(f.kind, 99))


class Diagnoser:
    """Stateful but pure (no I/O, no clocks): call ``update`` after each batch of records."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._runs: dict[str, _RunState] = {}

    @property
    def replay_every(self) -> int:
        """The most new logged steps one update may replay and still give each row the
        level an update per row would: ``REPLAY_EVERY``, or less for a short ``window``."""
        th = self.thresholds
        return max(1, min(REPLAY_EVERY, th.window - look_back(th)))

    def update(self, run: RunHistory, *, force: bool = False) -> list[Finding]:
        """All findings for this run, active first, then by severity (critical first),
        then depth; cleared ones last, newest first, with ``cleared_step`` set.

        Re-evaluates at most every ``Thresholds.eval_every`` new logged steps (at once
        when non-finite values first appear, when the run has ended, or when ``force``
        is set); otherwise returns the previous answer.
        """
        state = self._state(run)
        rows = self._rows(run)
        fresh_nan = run.first_nonfinite is not None and not state.seen_nonfinite
        due = rows - max(state.evaluated_rows, 0) >= self.thresholds.eval_every
        due |= force or fresh_nan or run.end is not None or state.evaluated_rows < 0
        if rows != state.evaluated_rows and due:
            self._evaluate(run, state)
            state.evaluated_rows = rows
            state.seen_nonfinite = run.first_nonfinite is not None
        return list(state.findings)

    def forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _rows(run: RunHistory) -> int:
        base = run.stats.get("grad_norm") or next(iter(run.stats.values()), None)
        return 0 if base is None else base.total_rows

    def _state(self, run: RunHistory) -> _RunState:
        state = self._runs.get(run.run_id)
        if state is None or state.header is not run.header:
            roles = roles_for(run.header, self.thresholds, run.params)
            state = _RunState(run.header, roles, params=run.params)
            self._runs[run.run_id] = state
        elif state.params is not run.params:  # roles changed mid-run: findings go on
            state.roles = roles_for(run.header, self.thresholds, run.params)
            state.params = run.params
        return state

    def _evaluate(self, run: RunHistory, state: _RunState) -> None:
        view = build_view(run, state.roles, self.thresholds, state.mem)
        if view is None:
            return
        # Overflow and NaN are data here, not errors: no floating-point warning may
        # reach a user's terminal (np.errstate is thread-local, safe in a UI worker).
        with np.errstate(all="ignore"):
            for rule in RULES:
                for signal in rule(view):
                    starts = view.steps, view.row0, view.new_from
                    for pos, row, born in self._advance(state, signal, *starts):
                        cut = view.upto(row)
                        state.cleared[pos] = _reworded(state.cleared[pos], rule, cut, born=born)
            update_memory(view)
        # Newest cleared first, by step: findings cleared within one replay come out in
        # rule order, so ordering them by step keeps the report independent of cadence.
        state.cleared.sort(key=_clear_order)
        del state.cleared[MAX_CLEARED:]
        state.findings = self._ordered(state)

    def _advance(
        self, state: _RunState, sig: Signal, steps: Any, row0: int, start: int
    ) -> list[tuple[int, int, bool]]:
        """Replay the unseen rows of ``sig``.

        Returns (index in ``state.cleared``, window row, raised in this replay) for each
        finding flagged and then cleared in these rows before the row that ``sig``'s words
        describe (its newest flagged row, maybe another episode of the kind): such a
        finding needs the words of its own last flagged row. A finding cleared after being
        flagged at that very row takes ``sig``'s words, whichever replay raised it.
        """
        clear = sig.clear_steps if sig.clear_steps is not None else self.thresholds.clear_steps
        act = state.active.get(sig.kind)
        end = len(sig.level)
        words_row = last_on(sig.level)
        misworded: list[tuple[int, int, bool]] = []
        born = False  # the act was raised in this replay (its words are ``sig``'s)
        flagged: int | None = None  # the act's newest flagged row in this replay
        if act is None and (end <= start or int(sig.level[start:end].max()) < INFO):
            return misworded  # nothing raised, nothing to clear: the usual healthy case
        # Python ints, once: indexing numpy arrays row by row was most of the replay.
        row_levels = sig.level[start:end].tolist()
        row_steps = np.asarray(steps[start:end]).tolist()
        for i, (lvl, step) in enumerate(zip(row_levels, row_steps, strict=True), start):
            if act is None:
                if lvl >= INFO:
                    act = _Active(self._new_finding(sig, lvl, step), lvl, row0 + i)
                    state.active[sig.kind] = act
                    flagged, born = i, True
                continue
            if lvl >= INFO:
                flagged = i
                act.off_run = 0
                row = row0 + i
                if lvl >= act.level or row - act.level_row >= clear:
                    act.level, act.level_row = lvl, row
                act.pending_step = step
            elif lvl == OFF:
                act.off_run += 1
                if act.off_run >= clear:
                    done = act.settled()
                    if flagged is not None and flagged != words_row:
                        misworded.append((len(state.cleared), flagged, born))
                    elif flagged is not None and sig.title:  # its last row is sig's row
                        done = _with_words(done, sig)
                    state.cleared.append(replace(done, cleared_step=step))
                    del state.active[sig.kind]
                    act, flagged, born = None, None, False
        if act is not None:
            act.settled()
        if act is not None and sig.title:
            act.finding = _with_words(act.finding, sig)
        return misworded

    @staticmethod
    def _new_finding(sig: Signal, lvl: int, step: int) -> Finding:
        return Finding(
            kind=sig.kind,
            severity=severity_of(lvl),
            title=sig.title or _plain_title(sig.kind),
            params=sig.params,
            first_step=step,
            last_step=step,
            evidence=sig.evidence,
            explanation=sig.explanation,
            fixes=sig.fixes,
            extra=dict(sig.extra),
        )

    @staticmethod
    def _ordered(state: _RunState) -> list[Finding]:
        def depth(f: Finding) -> int:
            return min(f.params) if f.params else 1 << 30

        active = sorted(
            (a.finding for a in state.active.values()),
            key=lambda f: (-int(f.severity), depth(f), _KIND_ORDER.get(f.kind, 99)),
        )
        return active + list(state.cleared)
