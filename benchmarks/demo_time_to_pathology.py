"""How long until a student sees the pathology? ``gradtop demo`` from a cold start.

    .venv/bin/python benchmarks/demo_time_to_pathology.py            # every demo, live
    .venv/bin/python benchmarks/demo_time_to_pathology.py vanishing exploding_rnn

For each demo, a fresh Python process (so importing torch and Textual counts) runs the
live lesson exactly as ``gradtop demo NAME`` does: the dashboard app (headless, 120x40),
the training thread at the lesson's pace (``LIVE_DELAY`` after each step), the real
Logger, file, reader and Diagnoser. The clock starts just before the process is spawned
and stops when the dashboard's model holds the finding the demo teaches (the first of the
scenario's ``expect`` kinds, or its ``expect_info`` kind for info-only demos). Reported:
seconds, the step the finding was raised at, and the training step reached by then.

Healthy demos have no finding to wait for; they are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 60.0


def expected_kind(name: str) -> str | None:
    from gradtop.demos.scenarios import SCENARIOS
    from gradtop.teaching.lesson import DEMOS

    scenario = SCENARIOS[DEMOS[name].scenario]
    kinds = scenario.expect or scenario.expect_info
    return kinds[0] if kinds else None


def child(name: str, t0: float, path: Path) -> None:
    """Runs in the spawned process: the lesson app until the finding shows."""
    from gradtop.demos.demo_command import LIVE_DELAY, LIVE_STEPS
    from gradtop.demos.runner import DemoRunner
    from gradtop.teaching.lesson import DEMOS, Demo, LessonState
    from gradtop.ui.lesson_app import LessonApp

    imported = time.time() - t0
    kind = expected_kind(name)

    def make_runner(demo: Demo) -> DemoRunner:
        return DemoRunner(path, demo.scenario, steps=LIVE_STEPS, step_delay=LIVE_DELAY)

    app = LessonApp(path, LessonState(DEMOS[name]), make_runner)

    async def watch() -> dict[str, object]:
        async with app.run_test(size=(120, 40)) as pilot:
            while time.time() - t0 < LIMIT_S:
                with app.model.lock:
                    run = app.model.history.current
                    found = [
                        f
                        for f in (app.model.findings.get(run.run_id, []) if run else [])
                        if f.kind == kind
                    ]
                    if found and run is not None:
                        return {
                            "seconds": round(time.time() - t0, 2),
                            "raised_at_step": found[0].first_step,
                            "steps_seen": run.steps,
                            "import_seconds": round(imported, 2),
                        }
                await pilot.pause(0.05)
        return {"seconds": None}

    result = asyncio.run(watch())
    print(json.dumps({"demo": name, "kind": kind, **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demos", nargs="*")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.t0, Path(args.path))
        return
    from gradtop.teaching.lesson import DEMOS

    names = args.demos or [n for n in DEMOS if expected_kind(n) is not None]
    print(f"{'demo':15} {'finding':12} {'seconds':>8} {'raised at step':>15} {'steps seen':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / f"{name}.jsonl"
            t0 = time.time()
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, "--t0", str(t0), "--path", str(path)],
                capture_output=True,
                text=True,
                check=False,
                timeout=LIMIT_S + 60,
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                print(f"{name:15} failed: {proc.stderr.strip()[-300:]}")
                continue
            r = json.loads(lines[-1])
            secs = "timeout" if r["seconds"] is None else f"{r['seconds']:.1f}"
            print(
                f"{name:15} {r['kind']:12} {secs:>8} {r.get('raised_at_step', '-')!s:>15} "
                f"{r.get('steps_seen', '-')!s:>11}   (imports {r.get('import_seconds')} s)"
            )


if __name__ == "__main__":
    main()
