"""What the run list (``gradtop watch DIR``) costs with many live runs: CPU and SSH bytes.

    python benchmarks/run_list.py                   # 50 runs, 64 tensors, 2 records/s each
    python benchmarks/run_list.py --runs 20 --params 200 --rate 5 --size 120x40

One writer process appends step records to ``--runs`` files in one directory, each run
at ``--rate`` records per second (values change every step, every line of the list moves).
The viewer is a real ``gradtop watch DIR`` on a pseudo-terminal (``viewer.Viewer``), and
over the steady-state window we measure its CPU (% of one core) and the bytes it wrote to
the terminal (what an SSH session carries). The baseline, measured in the same run: the
one-run dashboard, ``gradtop watch FILE``, on one such run at the same rate. Time to the
first full list (every run shown, python start-up included) is reported too.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from viewer import Viewer, machine

from gradtop.records import End, Header, ParamInfo, Step, encode_record


def writer_main(folder: str, runs: int, n_params: int, rate: float, seconds: float) -> None:
    """The stand-in training jobs: ``runs`` files, 50 steps already logged in each."""
    params = tuple(
        ParamInfo(f"net.{i}.weight", f"net.{i}", "Linear", "weight", (64, 64), 4096, True, True)
        for i in range(n_params)
    )
    fds = []
    t0 = time.time() - 50 / rate
    for r in range(runs):
        fd = os.open(f"{folder}/run{r:03d}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, encode_record(Header(f"run{r:03d}", t0, params, model="Bench").to_json()))
        fds.append(fd)

    def record(r: int, step: int, when: float) -> bytes:
        g = [1e-3 * (1 + 0.3 * math.sin(step * 0.7 + i + r)) for i in range(n_params)]
        rec = Step(f"run{r:03d}", step, step, when, loss=2.0 / math.sqrt(step), lr=[1e-3])
        rec.stats = {"grad_norm": g, "grad_max": [v / 10 for v in g]}
        return encode_record(rec.to_json())

    for step in range(1, 51):
        for r, fd in enumerate(fds):
            os.write(fd, record(r, step, t0 + step / rate))
    start, step = time.monotonic(), 50
    while time.monotonic() - start < seconds:
        step += 1
        for r, fd in enumerate(fds):  # the runs' steps spread over the interval
            os.write(fd, record(r, step, time.time()))
            time.sleep(max(0.0, start + (step - 50 + r / runs) / rate - time.monotonic()))
    for r, fd in enumerate(fds):
        os.write(fd, encode_record(End(f"run{r:03d}", step + 1, time.time(), step).to_json()))
        os.close(fd)


def measure(target: Path, ready: bytes, args: argparse.Namespace, cols: int, rows: int) -> dict:
    viewer = Viewer(target, cols, rows, args.refresh)
    try:
        first = viewer.started
        viewer.wait_for(ready, 0, timeout=60)
        first_frame = time.monotonic() - first
        viewer.pump_for(args.warmup)
        cpu0, bytes0, t0 = viewer.cpu_seconds(), len(viewer.output), time.monotonic()
        viewer.pump_for(args.seconds)
        cpu1, bytes1, t1 = viewer.cpu_seconds(), len(viewer.output), time.monotonic()
    finally:
        viewer.quit()
    window = t1 - t0
    return {
        "cpu_pct": 100 * (cpu1 - cpu0) / window,
        "bytes_per_s": (bytes1 - bytes0) / window,
        "first": first_frame,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--params", type=int, default=64, help="tensors per run")
    parser.add_argument("--rate", type=float, default=2.0, help="records per second per run")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--refresh", type=float, default=0.5, help="gradtop watch --refresh")
    parser.add_argument("--size", action="append", help="COLSxROWS (repeatable)")
    parser.add_argument("--writer", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        folder, runs, n, rate, seconds = args.writer
        writer_main(folder, int(runs), int(n), float(rate), float(seconds))
        return
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["80x24", "200x60"])]
    print(f"machine: {machine()}")
    print(
        f"writer: {args.runs} runs x {args.params} tensors, {args.rate:g} records/s each "
        f"({args.runs * args.rate:g} records/s in all); --refresh {args.refresh}"
    )
    print("| terminal | view | CPU (% of 1 core) | to terminal | first full frame |")
    print("|---|---|---|---|---|")
    for cols, rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            total = 2 * (args.warmup + args.seconds) + 60
            argv = [sys.executable, __file__, "--writer", tmp, str(args.runs), str(args.params)]
            writer = subprocess.Popen([*argv, str(args.rate), str(total)])
            try:
                last = f"run{args.runs - 1:03d}".encode()
                deadline = time.monotonic() + 30
                while not (Path(tmp) / f"{last.decode()}.jsonl").exists():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the writer made no files")
                    time.sleep(0.05)
                # The list is complete once the last run's line is drawn (rows beyond
                # the screen are not drawn: then the first screenful).
                shown = min(args.runs, rows - 4)
                ready = f"run{shown - 1:03d}".encode()
                many = measure(Path(tmp), ready, args, cols, rows)
                one = measure(Path(tmp) / "run000.jsonl", b"net.0.weight", args, cols, rows)
            finally:
                writer.kill()
                writer.wait()
        for view, r in ((f"run list, {args.runs} runs", many), ("one run's dashboard", one)):
            print(
                f"| {cols}x{rows} | {view} | {r['cpu_pct']:.1f} % | "
                f"{r['bytes_per_s'] / 1024:.1f} KB/s | {r['first']:.2f} s |",
                flush=True,
            )
        print(
            f"| {cols}x{rows} | list / dashboard | {many['cpu_pct'] / one['cpu_pct']:.2f}x | "
            f"{many['bytes_per_s'] / max(one['bytes_per_s'], 1):.2f}x | |",
            flush=True,
        )


if __name__ == "__main__":
    main()
