"""What measuring "what reaches optimizer.step()" costs (format 1.2's step norm).

    .venv/bin/python benchmarks/step_norm.py [--rounds 9] [--steps 20]
    .venv/bin/python benchmarks/step_norm.py --micro   # the pieces alone, median of 50

A 12x512 MLP (batch 128, AdamW, one thread, CPU), timed per step, four ways, interleaved
round by round so that drift hits all alike: without gradtop and with it, each without
and with ``clip_grad_norm_(max_norm=1.0)`` after ``log()``. Without clipping the Logger
reads nothing extra (the gradients are untouched since ``log()``: a version check per
tensor); with clipping it makes one more pass over the gradients on every logged step.
Prints median step times and the ratios gradtop / plain for each. ``--micro`` times the
pieces alone on the same model's gradients: the version check, the extra pass, and
``clip_grad_norm_`` itself for scale.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import gradtop
from gradtop.logger.step_watch import StepWatch


def _model() -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(12):
        layers += [nn.Linear(512, 512), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(512, 10))


def _round(
    model: nn.Module, opt: torch.optim.Optimizer, log: gradtop.Logger | None, clip: bool, steps: int
) -> list[float]:
    x = torch.randn(128, 512)
    y = torch.randint(0, 10, (128,))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if log is not None:
            log.log(loss)
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - start)
    return times


def micro() -> None:
    model = _model()
    model(torch.randn(128, 512)).sum().backward()
    params = list(model.parameters())
    watch = StepWatch(params, [True] * len(params), sharded=False)
    pieces = {
        "StepWatch.remember + unchanged": lambda: (watch.remember(), watch.unchanged()),
        "StepWatch.step_sumsq (the extra pass)": lambda: watch.step_sumsq(
            torch.device("cpu"), torch.float64
        ),
        "clip_grad_norm_ itself": lambda: torch.nn.utils.clip_grad_norm_(params, 1e9),
    }
    for name, run in pieces.items():
        run()
        times = []
        for _ in range(50):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        print(f"{name:40} {statistics.median(times) * 1e3:8.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--micro", action="store_true", help="time the pieces alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.micro:
        micro()
        return 0
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times: dict[tuple[bool, bool], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for clip in (False, True):
                times.setdefault((False, clip), []).extend(
                    _round(model, opt, None, clip, args.steps)
                )
                log = gradtop.Logger(Path(tmp) / f"clip{clip}.jsonl", model, optimizer=opt)
                _round(model, opt, log, clip, 2)  # warm: first step, layouts, snapshot
                times.setdefault((True, clip), []).extend(_round(model, opt, log, clip, args.steps))
                log.close()
    print(f"{'loop':28} {'median step':>12} {'ratio':>8}")
    for clip in (False, True):
        plain = statistics.median(times[(False, clip)])
        logged = statistics.median(times[(True, clip)])
        name = "clip_grad_norm_ after log()" if clip else "no clipping"
        print(f"{name + ', plain':28} {plain * 1e3:10.2f} ms")
        print(f"{name + ', gradtop':28} {logged * 1e3:10.2f} ms {logged / plain:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
