"""The pure builders behind the dashboard: what a user reads, decided without a terminal."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len

from gradtop.diagnosis.findings import Evidence, Finding, Fix, Severity
from gradtop.history import History
from gradtop.reader import FileReader
from gradtop.ui.columns import plan_columns, row_cells
from gradtop.ui.findings_text import findings_lines, summary
from gradtop.ui.format import ellipsize, fmt_duration, fmt_frac, fmt_num
from gradtop.ui.headline import HeadlineInput, ReaderView, headline
from gradtop.ui.heatmap import heatmap_lines, hist_matrix
from gradtop.ui.layers import OK, SortKey, build_rows, filter_rows, next_sick, sort_rows
from gradtop.ui.model import RunClock, WatchModel, liveness
from gradtop.ui.plot_base import log_ticks, step_ticks
from gradtop.ui.sparkline import NONFINITE, flow_bar, flow_scale, log_sparkline
from tests.ui.ui_helpers import DATA


def _history(name: str) -> History:
    reader = FileReader(DATA / name)
    history = History()
    history.extend(reader.read().records)
    reader.close()
    return history


def _text(lines: list[list[tuple[str, str]]]) -> str:
    return "\n".join("".join(t for t, _ in line) for line in lines)


# ---------------------------------------------------------------------------- format


def test_numbers_keep_nan_inf_and_missing_apart() -> None:
    assert fmt_num(None) == "—"
    assert fmt_num(math.nan) == "NaN"
    assert fmt_num(math.inf) == "+Inf" and fmt_num(-math.inf) == "-Inf"
    assert fmt_num(3.1e-9) == "3.10e-09"
    assert fmt_frac(0.0) == "0%" and fmt_frac(None) == "—"


def test_durations_are_compact() -> None:
    assert [fmt_duration(s) for s in (0.4, 12, 185, 7380, 3 * 86400 + 7200)] == [
        "0.4s",
        "12s",
        "3m05s",
        "2h03m",
        "3d02h",
    ]


def test_ellipsize_counts_terminal_cells_and_keeps_the_end() -> None:
    assert ellipsize("blocks.11.attn.qkv.weight", 12) == "….qkv.weight"
    assert ellipsize("short", 12) == "short"
    wide = "層" * 10
    cut = ellipsize(wide, 7)
    assert cell_len(cut) <= 7 and cut.startswith("…")


# ---------------------------------------------------------------------------- sparkline


def test_sparkline_marks_nonfinite_and_pads_left() -> None:
    values = np.array([1e-3, 1e-2, 1e-1, np.inf, np.nan, 0.0, 1.0])
    line = log_sparkline(values, width=10)
    assert len(line) == 10 and line.startswith("   ")
    assert line[6] == NONFINITE, "Inf must never be drawn as a bar"
    assert line[7] == " ", "a missing value is a gap"
    assert line[3] == "▁" and line[-1] == "█", "log scale: smallest lowest, largest highest"


def test_sparkline_flags_nan_inside_a_resampled_span() -> None:
    line = log_sparkline(np.array([1.0, 2.0]), np.array([False, True]), width=2)
    assert line[1] == NONFINITE


def test_flow_bar_is_log_scaled_on_a_fixed_axis() -> None:
    scale = flow_scale([1e-2])
    small, big = flow_bar(1e-9, 12, scale), flow_bar(1e-2, 12, scale)
    assert len(small) == len(big) == 12
    assert small.strip() and len(small.strip()) < len(big.strip())
    assert set(flow_bar(math.nan, 4, scale)) == {NONFINITE}
    assert flow_bar(None, 4, scale) == "    "


# ---------------------------------------------------------------------------- rows


def test_rows_take_status_from_findings_and_facts() -> None:
    run = _history("vanishing.jsonl").current
    assert run is not None
    finding = Finding("vanishing", Severity.CRITICAL, "Vanishing", (0, 2), 40, 200)
    rows = build_rows(run, [finding])
    assert rows[0].status.label == "▼ VANISH" and rows[2].status.sick
    # net.0.bias: left out of the depth rules, but not "ok" under its module's VANISH
    # weight: the module's word, muted, and not itself a sick row.
    assert rows[1].info.module == rows[0].info.module
    assert rows[1].status.label == "▼ VANISH" and rows[1].status.tone == "muted"
    assert not rows[1].status.sick
    # A module with no finding keeps "ok" on its bias.
    healthy_biases = [
        r for r in rows if r.info.module not in {rows[0].info.module, rows[2].info.module}
    ]
    assert healthy_biases and all(r.status is OK for r in healthy_biases)
    assert rows[0].grad_norm == pytest.approx(3.2e-9, rel=0.05)


def test_nonfinite_is_a_fact_even_without_a_finding() -> None:
    run = _history("exploding.jsonl").current
    assert run is not None
    rows = build_rows(run, [])
    assert all(r.status.label.startswith("✖") for r in rows)


def test_sorting_filtering_and_next_sick() -> None:
    run = _history("vanishing.jsonl").current
    assert run is not None
    rows = build_rows(run, [Finding("vanishing", Severity.CRITICAL, "V", (0, 2, 4), 40, 200)])
    by_norm = sort_rows(rows, SortKey.GRAD_NORM)
    norms = [r.grad_norm for r in by_norm]
    assert norms == sorted(norms, reverse=True)
    by_sev = sort_rows(rows, SortKey.SEVERITY)
    assert [r.index for r in by_sev[:3]] == [0, 2, 4]
    assert {r.info.param for r in filter_rows(rows, "BIAS")} == {"bias"}
    # The status word filters whole modules: the flagged weights and their biases.
    assert [r.index for r in filter_rows(rows, "vanish")] == [0, 1, 2, 3, 4, 5]
    assert next_sick(rows, 0) == 2 and next_sick(rows, 4) == 0
    assert SortKey.DEPTH.next() is SortKey.GRAD_NORM


def test_columns_fit_and_keep_the_essentials() -> None:
    for width in (40, 78, 120, 198):
        plan = plan_columns(width, longest_name=30)
        keys = [c.spec.key for c in plan]
        assert {"name", "grad", "status"} <= set(keys)
        assert plan[-1].x + plan[-1].width <= width
    assert "spark" in [c.spec.key for c in plan_columns(78)]
    assert "shape" in [c.spec.key for c in plan_columns(198)]


def test_row_cells_render_hostile_names_inert() -> None:
    run = _history("hostile.jsonl").current
    assert run is not None
    plan = plan_columns(120, longest_name=60)
    for row in build_rows(run, []):
        text = "".join(t for cell in row_cells(row, plan, "", flow_scale([])) for t, _ in cell)
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
        assert "\u202e" not in text


# ---------------------------------------------------------------------------- header


def _headline(width: int = 200, **kw: object) -> str:
    run = _history("healthy.jsonl").current
    base: dict[str, object] = {
        "path": "/x/run.jsonl",
        "run": run,
        "run_pos": 1,
        "run_count": 1,
        "following_newest": True,
        "liveness": None,
        "steps_per_second": 10.0,
        "reader": ReaderView(),
    }
    base.update(kw)
    return _text(headline(HeadlineInput(**base), width=width))  # type: ignore[arg-type]


def test_headline_states_are_words() -> None:
    run = _history("healthy.jsonl").current
    assert run is not None
    assert run.last_time is not None
    clock = RunClock()
    clock.add(run.last_time - 1, 190)
    clock.add(run.last_time, 200)
    stalled = liveness(run, clock, run.last_time + 600)
    assert "STALLED" in _headline(liveness=stalled)
    assert "live 2s ago" in _headline(liveness=liveness(run, clock, run.last_time + 2.7))
    assert "waiting for file" in _headline(run=None, reader=ReaderView(state="waiting"))
    assert "PAUSED" in _headline(paused=True)
    skipped = _headline(reader=ReaderView(skipped={"invalid_json": 2, "schema": 1}))
    assert "skipped 3 bad lines (2 invalid_json, 1 schema)" in skipped
    refused = _headline(reader=ReaderView(version_error="file uses format 2.0"))
    assert "✖ file uses format 2.0" in refused
    assert "truncated 1×" in _headline(reader=ReaderView(truncations=1))


def test_headline_fits_narrow_terminals() -> None:
    line = _headline(width=60).split("\n")[0]
    assert cell_len(line) <= 60 and "step 200" in line


def test_finished_run_says_so() -> None:
    run = _history("exploding.jsonl").current
    assert run is not None and run.end is not None
    live = liveness(run, None, run.end.time + 5)
    assert live.state == "finished" and live.detail == "exception"


# ---------------------------------------------------------------------------- findings


def test_findings_text_has_evidence_and_fix_code() -> None:
    finding = Finding(
        "vanishing",
        Severity.CRITICAL,
        "Vanishing \x1b[31mgradients",
        (0,),
        40,
        200,
        evidence=(Evidence("depth ratio", 1e-8, 1e-5, "<", "net.0.weight"),),
        fixes=(
            Fix("relu", "Use ReLU", "Sigmoid saturates", "nn.ReLU()\nnn.init.kaiming_normal_(w)"),
        ),
    )
    cleared = Finding("frozen", Severity.INFO, "Frozen", (), 1, 5, cleared_step=6)
    text = _text(findings_lines([cleared, finding]))
    assert text.index("CRITICAL") < text.index("cleared"), "active findings come first"
    assert "depth ratio [net.0.weight] = 1.00e-08" in text
    assert "nn.init.kaiming_normal_(w)" in text and "\x1b" not in text
    compact = _text(findings_lines([finding], detail=False, limit=1))
    assert compact.count("\n") == 1 and "Use ReLU" in compact
    assert summary([finding, cleared]) == "1 critical"


# ---------------------------------------------------------------------------- heatmap


def test_histogram_heatmap_rows_are_bins_largest_first() -> None:
    run = _history("healthy.jsonl").current
    assert run is not None
    steps, matrix = hist_matrix(run.hist, 0)
    assert steps and matrix.shape[1] == len(run.header.hist_edges or ()) - 1
    lines = heatmap_lines(matrix, run.header.hist_edges, 30)
    assert lines[0][0] == "≥1e1" and lines[-1][0] == "≥1e-10"
    assert all(len(shades) == 30 for _, shades in lines)
    assert any(s.strip() for _, s in lines)


# ---------------------------------------------------------------------------- model


def test_model_diagnoses_and_bumps_generation(tmp_path: Path) -> None:
    from gradtop.diagnosis import Diagnoser
    from gradtop.diagnosis.diagnoser import REPLAY_EVERY

    model = WatchModel(Diagnoser)
    records = FileReader(DATA / "vanishing.jsonl").read().records  # header + 200 steps
    assert model.add(records[: REPLAY_EVERY // 2]) == {"vanishing-0002"}
    assert model.generation == 1 and model.diagnosis_due
    assert "vanishing-0002" not in model.findings, "a few new steps wait for diagnose()"
    model.add(records[REPLAY_EVERY // 2 :])
    # Many steps at once are diagnosed as they are added (every REPLAY_EVERY steps), so
    # no row leaves the Diagnoser's window unseen; diagnose() brings in the rest.
    assert "vanishing-0002" in model.findings and model.diagnosis_due
    model.diagnose()
    assert not model.diagnosis_due and model.generation == 3
    assert any(f.kind == "vanishing" for f in model.findings["vanishing-0002"])
    clock = model.clocks["vanishing-0002"]
    assert clock.steps_per_second() == pytest.approx(10.0)


# ---------------------------------------------------------------------------- plot axes


def test_log_ticks_are_short_decade_labels() -> None:
    ticks, labels = log_ticks(-17.3, -14.2)
    assert ticks == [-17.0, -16.0, -15.0] and labels == ["1e-17", "1e-16", "1e-15"]
    ticks, labels = log_ticks(-16.5, -16.1)  # inside one decade: mantissas
    assert len(ticks) == 3 and labels[0] == "3.2e-17"
    assert len(log_ticks(-30, 10, max_ticks=5)[0]) <= 5


def test_step_ticks_are_integers() -> None:
    _ticks, labels = step_ticks(3, 600)
    assert labels[0] == "3" and labels[-1] == "600" and all("." not in t for t in labels)


def test_strip_never_calls_an_unjudged_run_healthy() -> None:
    from gradtop.ui.lesson_view import RunSummary, StripWords, strip_lines

    def run(number: int, steps: int, finished: bool) -> RunSummary:
        return RunSummary(
            f"r{number}", number, (), steps, 2.3, 1e-15, (1e-15, 1.0), finished=finished
        )

    words = StripWords()
    runs = [run(1, 300, True), run(2, 12, True), run(3, 12, False)]
    lines = strip_lines(runs, "r3", 100, fix_labels={}, kind_names={}, words=words, judge_steps=100)
    text = ["".join(t for t, _ in line) for line in lines[1:]]
    assert words.none_found in text[0]  # judged long enough with nothing found
    assert words.cut_short in text[1] and words.none_found not in text[1]  # restarted early
    assert text[2].rstrip().endswith("…") and words.none_found not in text[2]  # still young


def test_step_bins_survive_steps_that_go_back() -> None:
    """Steps 1..200, then 181..185 again (lines appended from a restarted run)."""
    from gradtop.ui.sparkline import step_bins

    steps = np.concatenate([np.arange(1, 201), np.arange(181, 186)])
    high = np.concatenate([np.full(200, 1.0), np.full(5, 9.0)])
    values, flags = step_bins(steps, high, np.zeros(steps.size, bool), 10)
    assert values.shape == (10,) and not flags.any()
    # Binned by step number: the repeated steps 181-185 raise the bin that holds step 181
    # (not the newest one, steps 192-200), and no point is dropped or misplaced.
    assert values[-2] == 9.0 and values[-1] == 1.0
    assert np.nanmax(values[:-2]) == 1.0


def test_headline_names_the_host_of_a_remote_file() -> None:
    """Two hosts' run.jsonl must not look the same in the header."""
    assert "me@gpu1:run.jsonl" in _headline(path="me@gpu1:/runs/run.jsonl")
    assert "run.jsonl" in _headline(path="/x/run.jsonl")
    assert ":run.jsonl" not in _headline(path="/x/run.jsonl")
