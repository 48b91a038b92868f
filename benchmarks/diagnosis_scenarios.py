"""Does gradtop name the sick layers, early, without false alarms? And what does it cost?

    .venv/bin/python benchmarks/diagnosis_scenarios.py            # all scenarios + fixes
    .venv/bin/python benchmarks/diagnosis_scenarios.py --no-fixes --no-speed
    .venv/bin/python benchmarks/diagnosis_scenarios.py --gallery   # + realistic models

1. Scorecard: every scenario of ``gradtop.demos.scenarios`` is trained on CPU (one
   thread, seed 0) with the real Logger into a real file, read back through the real
   reader in small batches with the Diagnoser updated after each batch (as ``gradtop
   watch`` does), and compared with what it should raise:
   expected kind -> found (first step it was reported, severity) or MISSED;
   false alarms = warning-or-worse kinds neither expected nor allowed.
   For runs whose loss turned NaN/Inf: how many steps before it the exploding warning came
   (the lead); for exploding scenarios whose loss stayed finite, when it was raised.
2. The same scenarios trained with their fix (``Scenario.fix``): no warning may remain.
3. Cost of one Diagnoser evaluation on synthetic runs of 20 to 4000 parameter tensors:
   re-evaluation after 4 new steps (what a live view pays) and a cold full window.
   CPU time of this process (``time.process_time``), median of repeats.
4. With ``--gallery``: the gallery of realistic models (tests/gallery: a nanoGPT-style
   GPT, word_language_model's LSTM, BERT under the HF Trainer, a CNN under Lightning),
   each healthy and broken, with two variations each; labels from the runs' own evidence.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gradtop.demos.scenarios import SCENARIOS, run_scenario
from gradtop.diagnosis import Diagnoser, Severity
from gradtop.history import History
from gradtop.records import Header, ParamInfo, Step
from gradtop.teaching.scorecard import score


def scorecard(workdir: Path, fixes: bool) -> bool:
    print(f"{'scenario':26} {'expected kind':24} {'result':30} {'false alarms':14} also raised")
    ok_all = True
    leads: list[str] = []
    for name, scenario in SCENARIOS.items():
        path = workdir / f"{name}.jsonl"
        started = time.perf_counter()
        run_scenario(name, None, path)
        seconds = time.perf_counter() - started
        result = score(scenario, path)
        ok_all &= result.ok
        expected = [(k, "warning+") for k in scenario.expect]
        expected += [(k, "info+") for k in scenario.expect_info]
        rows = expected or [("(healthy)", "")]
        for i, (kind, level) in enumerate(rows):
            if kind == "(healthy)":
                cell = "no warnings" if not result.false_alarms else "FALSE ALARM"
            elif kind in result.missed:
                cell = "MISSED"
            else:
                f = result.found[kind]
                cell = f"found at step {f.first_step} ({f.severity.label})"
            alarms = ", ".join(result.false_alarms) or "-"
            label = f"{name} ({seconds:.1f}s)" if i == 0 else ""
            also = ", ".join(
                f"{k} ({f.severity.label})"
                for k, f in result.found.items()
                if k not in scenario.expect and k not in scenario.expect_info
            )
            print(
                f"{label:26} {kind + ' ' + level:24} {cell:30} "
                f"{alarms if i == 0 else '':14} {also if i == 0 else ''}"
            )
        boom = result.found.get("exploding")
        if result.first_nonfinite_loss is not None:
            lead = "not raised" if result.lead is None else f"{result.lead} step(s) before"
            leads.append(
                f"  {name}: first NaN/Inf loss at step {result.first_nonfinite_loss}; "
                f"exploding raised {lead}"
            )
        elif "exploding" in scenario.expect:
            at = "not raised" if boom is None else f"raised at step {boom.first_step}"
            leads.append(f"  {name}: no NaN/Inf loss in {scenario.steps} steps; exploding {at}")
    if leads:
        print("\nexploding warning vs first non-finite loss (lead = steps between them):")
        print("\n".join(leads))
    if fixes:
        print("\nwith the fix applied (no warning may remain):")
        for name, scenario in SCENARIOS.items():
            if not scenario.fix:
                continue
            path = workdir / f"{name}-fixed.jsonl"
            run_scenario(name, None, path, **scenario.fix)
            result = score(scenario, path)
            loud = sorted(k for k, f in result.found.items() if f.severity >= Severity.WARNING)
            info = sorted(k for k, f in result.found.items() if f.severity < Severity.WARNING)
            ok_all &= not loud
            fix = ", ".join(f"{k}={v!r}" for k, v in scenario.fix.items())
            print(
                f"  {name:18} {fix:48} warnings: {', '.join(loud) or 'none'}"
                + (f"; info: {', '.join(info)}" if info else "")
            )
    return ok_all


def _synthetic(depth: int, steps: int, seed: int = 0) -> tuple[History, Header, np.ndarray]:
    params = []
    for i in range(depth):
        params.append(ParamInfo(f"l{i}.weight", f"l{i}", "Linear", "weight", (64, 64), 4096, True))
        params.append(ParamInfo(f"l{i}.bias", f"l{i}", "Linear", "bias", (64,), 64, True))
    head = Header(run_id="bench", time=0.0, params=tuple(params), optimizer="SGD")
    history = History()
    history.add(head)
    noise = np.random.default_rng(seed).lognormal(0, 0.2, (steps, len(params)))
    return history, head, noise


def _add(history: History, noise: np.ndarray, step: int) -> None:
    g = noise[step].tolist()
    n = len(g)
    history.add(
        Step(
            "bench",
            step + 1,
            step + 1,
            float(step),
            loss=2.0 - step * 1e-3,
            lr=[0.1],
            total_grad_norm=float(np.sqrt(np.sum(noise[step] ** 2))),
            stats={
                "grad_norm": g,
                "grad_max": g,
                "weight_norm": [4.0] * n,
                "nonfinite": [0] * n,
                "zero_frac": [0.0] * n,
                "update_ratio": [1e-3] * n,
            },
        )
    )


def speed() -> None:
    print("\nDiagnoser cost per evaluation (CPU ms, median):")
    print("  tensors  every 4 new steps   cold (full 256-step window)")
    for depth in (10, 100, 500, 2000):
        history, _, noise = _synthetic(depth, 700)
        for s in range(300):
            _add(history, noise, s)
        run = history.runs["bench"]
        diagnoser = Diagnoser()
        diagnoser.update(run, force=True)
        warm = []
        for s in range(300, 600, 4):
            for k in range(4):
                _add(history, noise, s + k)
            t = time.process_time()
            diagnoser.update(run, force=True)
            warm.append(time.process_time() - t)
        cold = []
        for _ in range(5):
            t = time.process_time()
            Diagnoser().update(run, force=True)
            cold.append(time.process_time() - t)
        print(f"  {2 * depth:7d}  {np.median(warm) * 1e3:17.1f}   {np.median(cold) * 1e3:10.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-fixes", action="store_true", help="skip the cured runs")
    parser.add_argument("--no-speed", action="store_true", help="skip the cost table")
    parser.add_argument("--gallery", action="store_true", help="also the realistic models")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ok = scorecard(Path(tmp), fixes=not args.no_fixes)
    if not args.no_speed:
        speed()
    if args.gallery:
        print("\n# gallery (tests/gallery/scorecard.py --variants)")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.gallery.scorecard import main as gallery

        gallery(["--variants"])
    print("\nall scenarios as expected" if ok else "\nSOME SCENARIOS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
