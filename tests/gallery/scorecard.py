"""Run the gallery and print what gradtop finds for each case, next to its evidence.

    .venv/bin/python -m tests.gallery.scorecard             # every case, seed 0
    .venv/bin/python -m tests.gallery.scorecard --variants  # also seed 1, other widths
    .venv/bin/python tests/gallery/scorecard.py gpt_healthy lstm_exploding

Labels come from each run's own evidence (cases.py); the verdict column is judge.py's.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.gallery.cases import CASES, Case, CaseResult, run_case, variants  # noqa: E402
from tests.gallery.judge import Seen, judge, seen_findings  # noqa: E402

KEY_EVIDENCE = (
    "loss_initial",
    "loss_last",
    "loss_max",
    "lr_max",
    "lr_last",
    "median_grad_norm_first_quarter",
    "median_grad_norm_last_quarter",
    "grad_norm_max",
    "weight_norm_ratio_total",
    "grad_none",
    "grad_spikes",
    "accumulated_over_fresh_grad",
    "stale_part_of_grad",
    "train_accuracy_heldout",
    "heldout_accuracy",
)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def _finding_line(f: Seen) -> str:
    layers = ",".join(f.layers[:4]) + (f",+{len(f.layers) - 4}" if len(f.layers) > 4 else "")
    return f"{f.short()} layers=[{layers}] fixes={list(f.fixes)}"


def report(result: CaseResult, findings: list[Seen]) -> tuple[bool, bool]:
    case = result.case
    problems = judge(case, findings, result.evidence)
    evidence_ok = all(ok for _, ok in result.claims)
    verdict = "PASS" if not problems else "FAIL"
    expected = "/".join(case.expected_kinds) or "healthy"
    print(
        f"\n## {case.name}  [{case.family}]  expected: {expected}  ->  gradtop {verdict}"
        f"  (evidence {'ok' if evidence_ok else 'NOT SUPPORTED'}, {result.seconds:.1f}s)"
    )
    if case.note:
        print(f"   setup: {case.note}")
    loud = [f for f in findings if f.loud]
    quiet = sorted({f.kind for f in findings if not f.loud})
    if loud:
        for f in loud:
            print(f"   found: {_finding_line(f)}")
    else:
        print("   found: nothing at warning+")
    if quiet:
        odd = [k for k in quiet if k not in case.quiet_ok] if not case.expected_kinds else []
        print(f"   info:  {quiet}" + (f"  (not in quiet_ok: {odd})" if odd else ""))
    for p in problems:
        print(f"   PROBLEM: {p}")
    ev = result.evidence
    nums = "  ".join(f"{k}={_fmt(ev[k])}" for k in KEY_EVIDENCE if k in ev)
    print(f"   evidence: {nums}")
    for text, ok in result.claims:
        print(f"     [{'x' if ok else ' '}] {text}")
    return not problems, evidence_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="case names (default: all)")
    parser.add_argument("--variants", action="store_true", help="also run seed-1 variants")
    parser.add_argument("--only-variants", action="store_true", help="run the variants only")
    args = parser.parse_args(argv)
    cases: list[Case] = [] if args.only_variants else list(CASES)
    if args.variants or args.only_variants:
        cases += list(variants())
    if args.names:
        cases = [c for c in cases if c.name in args.names or c.name.split("@")[0] in args.names]
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gallery") as tmp:
        for case in cases:
            result = run_case(case, tmp)
            findings = seen_findings(result.path)
            ok, evidence_ok = report(result, findings)
            loud = ", ".join(f.short() for f in findings if f.loud) or "-"
            rows.append((case.name, "/".join(case.expected_kinds) or "-", loud, ok, evidence_ok))
    total = time.perf_counter() - t0
    print(f"\n# summary ({len(rows)} cases, {total:.0f}s)")
    width = max(len(r[0]) for r in rows)
    for name, expected, loud, ok, evidence_ok in rows:
        flag = "PASS" if ok else "FAIL"
        ev = "" if evidence_ok else "  (evidence does not support label!)"
        print(f"{flag}  {name:<{width}}  expected {expected:<30} found {loud}{ev}")
    passed = sum(1 for r in rows if r[3])
    supported = sum(1 for r in rows if r[4])
    print(f"gradtop fits {passed}/{len(rows)}; evidence supports {supported}/{len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
