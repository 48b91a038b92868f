"""``gradtop demo``: the dashboard of ``gradtop watch`` plus a lesson on top of it.

A real small net trains in a background thread with the real Logger into a real file,
and this app IS the dashboard reading that file (it subclasses ``GradtopApp``); the
lesson only adds a panel. A number key switches one fix on or off (ReLU, He init,
BatchNorm, ...): training restarts as a new run appended to the file, the dashboard
follows it, and the strip compares every run of the session side by side.

Torch never loads from here: the training thread comes from ``make_runner``, built by
the CLI (``gradtop.demos.runner``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textual.binding import Binding, BindingType
from textual.cache import LRUCache

from gradtop.diagnosis.findings import Finding
from gradtop.history import RunHistory
from gradtop.teaching import lesson, texts
from gradtop.teaching.lesson import Demo, LessonState
from gradtop.ui.app import GradtopApp
from gradtop.ui.compare_view import ellipsize_end
from gradtop.ui.help_screen import KeyHelp
from gradtop.ui.lesson_guide import FixKey, guidance_lines
from gradtop.ui.lesson_panel import (
    DemoPicker,
    LessonPanel,
    TeachingPanel,
    TeachingScreen,
    Wrap,
)
from gradtop.ui.lesson_view import (
    RunSummary,
    StripWords,
    session_runs,
    strip_lines,
    summarise,
)

LESSON_REFRESH = 0.5  # seconds between lesson redraws (the dashboard has its own pace)
WIDE_TEXT_MIN = 150  # columns from which the "why" text sits beside the dashboard
SUMMARY_CACHE = 256  # runs whose summary is kept (a lesson session has far fewer)


class Runner(Protocol):
    """What the lesson needs from ``gradtop.demos.runner.DemoRunner``."""

    error: str

    def start(self, overrides: dict[str, Any], meta: dict[str, Any]) -> None: ...

    def stop(self, timeout: float = 10.0) -> bool: ...


class LessonApp(GradtopApp):
    """The dashboard on ``path`` with the lesson of ``state.demo`` on top."""

    CSS = """
    #teaching { display: none; }
    #teaching.-beside { display: block; dock: right; width: 60; }
    Screen.-short #top { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(k, f"fix_key('{k}')", show=False) for k in "123456789"),
        Binding("0", "reset_lesson", "Original net", show=False),
        # Not in the footer (it must fit 80 columns): the lesson panel lists these keys at
        # every size, and ``?`` and the palette list them with the rest (``key_help``).
        Binding("t", "toggle_text", "Why?", show=False),
        Binding("c", "choose_demo", "Demos", show=False),
        Binding("z", "toggle_lang", "中文/English", show=False),
    ]

    def __init__(
        self,
        path: str | Path,
        state: LessonState,
        make_runner: Callable[[Demo], Runner],
        *,
        lang: str = "en",
        session: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, **kwargs)
        self._lesson = lesson
        self._texts = texts
        self.state = state
        self.lang = lang
        self.session = session or uuid.uuid4().hex[:12]
        self.make_runner = make_runner
        self.runner: Runner | None = None
        self.text_beside: bool | None = None  # None: decided by the width
        self.next_demo: str | None = None  # chosen with c: run_lesson opens it next
        self.lesson_frames = 0  # lesson redraws (tests wait on the state, not on time)
        self.advice: Any = None  # the latest gradtop.teaching.lesson.Advice
        self.summaries: list[RunSummary] = []
        # run id -> ((steps, id(findings), ended, number), its summary): redrawn each frame.
        self._summary_cache: LRUCache[str, tuple[tuple[int, int, bool, int], RunSummary]] = (
            LRUCache(SUMMARY_CACHE)
        )

    # ------------------------------------------------------------------ layout

    def compose(self):  # type: ignore[no-untyped-def]
        yield LessonPanel(id="lesson")
        yield TeachingPanel(id="teaching")
        yield from super().compose()

    def on_mount(self) -> None:
        self.runner = self.make_runner(self.state.demo)
        self._start_training()
        self.set_interval(LESSON_REFRESH, self.refresh_lesson)
        self.call_after_refresh(self.refresh_lesson)

    def on_unmount(self) -> None:
        if self.runner is not None:
            self.runner.stop(timeout=5.0)

    # ------------------------------------------------------------------ training

    def _start_training(self) -> None:
        assert self.runner is not None
        self.run_id = None  # follow the newest run: the one about to start
        self.runner.start(self.state.overrides(), self.state.meta(self.session))
        self.refresh_lesson()

    def key_help(self) -> list[KeyHelp]:
        """The dashboard's keys, then the lesson's: each fix of this demo by its key."""
        keys = super().key_help()
        for f in self.state.demo.fixes:
            label = self._texts.fix(self.lang, f.id)["label"]
            call = f"fix_key('{f.key}')"
            what = f"{label} on/off ({f.change}), retrains"
            keys.append(KeyHelp(f.key, what, (call,), f"Fix {f.key}: {label}", f.change, call))
        lesson_keys = (
            ("0", "back to the original net (every fix off)", "reset_lesson", "Original net"),
            (
                "t",
                "why this happens, and what each fix changes",
                "toggle_text",
                "Why? (lesson text)",
            ),
            ("c", "choose another demo", "choose_demo", "Other demo"),
            ("z", "中文 / English for the lesson panel", "toggle_lang", "中文 / English"),
        )
        for key, what, action, title in lesson_keys:
            keys.append(KeyHelp(key, what, (action,), title, what, action))
        return keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A number key with no fix in this demo is not a key: off, not a silent bell."""
        if action == "fix_key" and parameters:
            return self.state.demo.by_key(str(parameters[0])) is not None
        return super().check_action(action, parameters)

    def action_fix_key(self, key: str) -> None:
        fix = self.state.demo.by_key(key)
        if fix is None:
            self.bell()
            return
        self.state = self.state.toggle(fix.id)
        self._start_training()

    def action_reset_lesson(self) -> None:
        if self.state.applied:
            self.state = self.state.reset()
            self._start_training()

    def action_choose_demo(self) -> None:
        demos = [
            (name, self._texts.scenario(self.lang, name)["line"]) for name in self._lesson.DEMOS
        ]
        title = self._texts.ui(self.lang, "picker_title")
        self.push_screen(DemoPicker(title, demos, self.state.demo.name), self._picked_demo)

    def _picked_demo(self, name: str | None) -> None:
        """Another demo trains into a file of its own, and the dashboard follows one file:
        this lesson ends (its training stops on unmount) and ``run_lesson`` opens the
        chosen one on its file, so no demo's runs are appended to another's."""
        if name is None or name == self.state.demo.name:
            return
        self.next_demo = name
        self.exit()

    def action_toggle_lang(self) -> None:
        self.lang = "zh" if self.lang == "en" else "en"
        self.refresh_lesson()

    def action_toggle_text(self) -> None:
        if self.size.width < WIDE_TEXT_MIN:
            self.push_screen(TeachingScreen(*self._teaching()))
            return
        beside = self.query_one(TeachingPanel).has_class("-beside")
        self.text_beside = not beside
        self.refresh_lesson()

    # ------------------------------------------------------------------ drawing

    def _say(self, key: str, **values: object) -> str:
        return self._texts.ui(self.lang, key, **values)  # type: ignore[no-any-return]

    def _summaries(self) -> tuple[list[RunSummary], list[Finding], RunHistory | None]:
        """The session's runs (oldest first) and the newest one's findings, under the lock."""
        model = self.model
        with model.lock:
            runs = session_runs(
                list(model.history.runs.values()), self.session, self.state.demo.name
            )
            out: list[RunSummary] = []
            for number, run in enumerate(runs, start=1):
                findings = model.findings.get(run.run_id, [])
                stamp = (run.steps, id(findings), run.end is not None, number)
                cached = self._summary_cache.get(run.run_id)
                if cached is None or cached[0] != stamp:
                    cached = (stamp, summarise(run, findings, number))
                    self._summary_cache.discard(run.run_id)  # set() keeps an existing value
                    self._summary_cache.set(run.run_id, cached)
                out.append(cached[1])
            current = runs[-1] if runs else None
            findings = list(model.findings.get(current.run_id, [])) if current else []
        return out, findings, current

    def _before(self, summaries: Sequence[RunSummary]) -> dict[str, int] | None:
        """Findings of the latest judged run the last pressed fix was applied to."""
        claim = self.state.last_claim()
        if claim is None:
            return None
        judge = self.state.demo.judge_steps
        for s in reversed(summaries[:-1]):
            # A run that ended early counts only if it had shown something (NaN stops
            # training early); one restarted before it was judged says nothing.
            judged = s.steps >= judge or (s.finished and bool(s.worst))
            if frozenset(s.fixes) == claim.before and judged:
                return dict(s.worst)
        return None

    def refresh_lesson(self) -> None:
        if not self.screen_stack or not self.screen_stack[0].is_mounted:
            return
        self.lesson_frames += 1
        lang, demo, state = self.lang, self.state.demo, self.state
        summaries, findings, current = self._summaries()
        self.summaries = summaries
        restarting = current is None or frozenset(summaries[-1].fixes) != state.applied_set
        self.advice = None
        if current is not None and not restarting:
            self.advice = self._lesson.advise(
                state,
                findings,
                current.steps,
                current.end is not None,
                self._before(summaries),
            )
        fixes = [
            FixKey(
                f.id,
                f.key,
                self._texts.fix(lang, f.id)["label"],
                f.change,
                f.id in state.applied,
            )
            for f in demo.fixes
        ]
        panel = self.query_one(LessonPanel)
        width = max(40, panel.size.width - 4 if panel.size.width else self.size.width - 4)
        compact = self.screen.has_class("-short")
        guide = guidance_lines(
            self.advice,
            fixes,
            self._say,
            functools.partial(self._texts.kind_list, lang),
            steps=current.steps if current is not None else 0,
            restarting=restarting,
            error=getattr(self.runner, "error", ""),
            reference=not demo.fixes,
            first_run=len(summaries) <= 1,
            compact=compact,
            finished=current is not None and current.end is not None,
        )
        text = self._texts.scenario(lang, demo.name)
        guide.insert(0, [(ellipsize_end(text["line"], width), "muted")])
        # After `r` the table shows another run than the newest: the strip marks that one,
        # and the panel says the advice is about the newest (applying a fix starts a run).
        with self.model.lock:
            viewed = self.current_run()
        viewed_id = viewed.run_id if viewed is not None else None
        ids = [s.run_id for s in summaries]
        if current is not None and viewed_id in ids and viewed_id != current.run_id:
            number = summaries[ids.index(viewed_id)].number
            line = self._say("viewing_other", number=number, newest=summaries[-1].number)
            guide.insert(1, [(ellipsize_end(line, width), "warning")])
        else:
            viewed_id = current.run_id if current is not None else None
        strip = strip_lines(
            summaries[-3:] if compact else summaries,
            viewed_id,
            width,
            fix_labels={f.id: f.label for f in fixes},
            kind_names={k: self._texts.kind(lang, k) for k in self._texts.lang_module(lang).KINDS},
            words=self._strip_words(),
            judge_steps=demo.judge_steps,
        )
        if strip and not compact:
            strip.append([(self._say("ratio_note"), "muted")])
        panel.show(f"{self._say('lesson')} {demo.name} · {text['title']}", guide, strip)
        self._draw_teaching()

    def _strip_words(self) -> StripWords:
        say = self._say
        return StripWords(
            run=say("col_run"),
            changes=say("col_changes"),
            profile=say("col_profile"),
            loss=say("col_loss"),
            ratio=say("col_ratio"),
            findings=say("col_findings"),
            broken=say("broken"),
            none_found=say("none_found"),
            cut_short=say("cut_short"),
            earlier=say("col_earlier"),
        )

    def _teaching(self) -> tuple[str, list[tuple[str, str]], Wrap]:
        lang, demo = self.lang, self.state.demo
        text = self._texts.scenario(lang, demo.name)
        sections: list[tuple[str, str]] = [
            (self._say(part), text[part]) for part in self._texts.SECTIONS
        ]
        for f in demo.fixes:
            label = self._texts.fix(lang, f.id)["label"]
            sections.append(
                (f"{f.key}  {label}  ({f.change})", self._texts.fix(lang, f.id)["what"])
            )
        sections.append((self._say("basics"), self._texts.basics(lang)))
        sections.append(("", self._say("ratio_note")))
        return f"{text['title']} · {self._say('text_title')}", sections, self._texts.wrap

    def _draw_teaching(self) -> None:
        panel = self.query_one(TeachingPanel)
        beside = self.text_beside
        if beside is None:
            beside = self.size.width >= WIDE_TEXT_MIN
        beside = beside and self.size.width >= WIDE_TEXT_MIN
        panel.set_class(beside, "-beside")
        if beside:
            panel.show(*self._teaching())


def run_lesson(
    path_for: Callable[[Demo], str | Path],
    state: LessonState,
    make_runner: Callable[[Demo], Runner],
    *,
    lang: str = "en",
) -> None:
    """Run the lesson until the user quits (the training thread stops with it); a demo
    chosen with ``c`` opens next, on its own file ``path_for(demo)``."""
    session = uuid.uuid4().hex[:12]  # one session: back on a demo, its strip has its runs
    while True:
        app = LessonApp(path_for(state.demo), state, make_runner, lang=lang, session=session)
        app.run()
        if app.next_demo is None:
            return
        state, lang = LessonState(lesson.DEMOS[app.next_demo]), app.lang
