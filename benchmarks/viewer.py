"""What ``gradtop watch`` costs while a training run writes: CPU, key latency, SSH bytes.

    python benchmarks/viewer.py                     # 500 tensors, 20 records/s, 80x24 and 200x60
    python benchmarks/viewer.py --params 2000 --rate 50 --seconds 30 --size 120x40

A writer process appends step records for ``--params`` parameter tensors at ``--rate``
records per second (all six statistics, values changing every step: the worst case for
redraws). The viewer runs as a real ``gradtop watch`` on a pseudo-terminal, exactly what
an SSH session carries, and we measure:

* CPU: the viewer process's user+system time over the steady-state window, as % of one core;
* bytes/s: everything the viewer wrote to the terminal in that window (the SSH cost);
* key-to-screen latency: from writing a key (``s``, sort) to the pty until the new sort
  label is in the terminal output, repeated and reported as median and max;
* time to first frame on a small finished file (python start-up and imports included).

Targets (issue 5): < 15 % of one core, < 100 ms, < 20 KB/s in steady state, first
frame < 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import math
import os
import platform
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from gradtop.records import End, Header, ParamInfo, Step, encode_record

ROOT = Path(__file__).resolve().parent.parent
SMALL_FILE = ROOT / "tests" / "data" / "healthy.jsonl"
SORT_LABELS = (b"sort: grad norm", b"sort: severity", b"sort: depth")


# ---------------------------------------------------------------------------- writer


def writer_main(path: str, n_params: int, rate: float, seconds: float, prefill: int) -> None:
    """The stand-in training process (run as a subprocess by the benchmark).

    ``prefill`` steps are written at once first (a job already running when the viewer
    attaches, the usual case), then one step every 1/rate seconds.
    """
    kinds = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
    params = tuple(
        ParamInfo(
            f"model.blocks.{i // 4}.{kinds[i % 4]}.weight",
            f"model.blocks.{i // 4}",
            "Linear",
            "weight",
            (256, 256),
            65536,
            True,
            True,
        )
        for i in range(n_params)
    )
    run_id = "bench"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = time.time() - prefill / rate
    os.write(fd, encode_record(Header(run_id, t0, params, model="Bench").to_json()))

    def record(step: int, when: float) -> bytes:
        g = [1e-3 * (1 + 0.3 * math.sin(step * 0.7 + i)) for i in range(n_params)]
        rec = Step(run_id, step, step, when, loss=2.0 / math.sqrt(step), lr=[1e-3])
        rec.stats = {
            "grad_norm": g,
            "grad_max": [v / 10 for v in g],
            "weight_norm": [10.0 + 1e-4 * step] * n_params,
            "nonfinite": [0] * n_params,
            "zero_frac": [0.01] * n_params,
            "update_ratio": [v / 10 for v in g],
        }
        return encode_record(rec.to_json())

    for step in range(1, prefill + 1):
        os.write(fd, record(step, t0 + step / rate))
    start = time.monotonic()
    step = prefill
    while time.monotonic() - start < seconds:
        step += 1
        os.write(fd, record(step, time.time()))
        next_at = start + (step - prefill) / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    os.write(fd, encode_record(End(run_id, step + 1, time.time(), step).to_json()))
    os.close(fd)


# ---------------------------------------------------------------------------- pty viewer


class Viewer:
    """``gradtop watch`` on a pseudo-terminal; counts every byte it writes."""

    def __init__(self, path: Path, cols: int, rows: int, refresh: float) -> None:
        self.output = bytearray()
        argv = [sys.executable, "-m", "gradtop", "watch", str(path), "--refresh", str(refresh)]
        self.started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:
            env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
            env.pop("NO_COLOR", None)
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # the viewer exited
                self.output += os.read(self.fd, 1 << 16)

    def pump_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pump(min(left, 0.05))

    def wait_for(self, needle: bytes, since: int, timeout: float = 30.0) -> float:
        """Seconds until ``needle`` appears in the output after offset ``since``."""
        t0 = time.monotonic()
        while needle not in self.output[max(0, since - len(needle)) :]:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{needle!r} not shown within {timeout}s")
            self.pump(0.01)
        return time.monotonic() - t0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def quit(self) -> None:
        try:
            os.write(self.fd, b"q")
            end = time.monotonic() + 10
            while time.monotonic() < end:
                self.pump(0.05)
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    break
            else:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        finally:
            os.close(self.fd)


# ---------------------------------------------------------------------------- measures


def first_frame(cols: int, rows: int) -> float:
    viewer = Viewer(SMALL_FILE, cols, rows, 0.5)
    try:
        viewer.wait_for(b"net.0.weight", 0)
        return time.monotonic() - viewer.started
    finally:
        viewer.quit()


def steady_state(args: argparse.Namespace, cols: int, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        total = args.warmup + args.seconds + 15
        argv = [sys.executable, __file__, "--writer", str(path), str(args.params)]
        writer = subprocess.Popen([*argv, str(args.rate), str(total), str(args.prefill)])
        viewer = Viewer(path, cols, rows, args.refresh)
        try:
            viewer.wait_for(b"attn.qkv.weight", 0)
            viewer.pump_for(args.warmup)
            cpu0, bytes0, t0 = viewer.cpu_seconds(), len(viewer.output), time.monotonic()
            viewer.pump_for(args.seconds)
            cpu1, bytes1, t1 = viewer.cpu_seconds(), len(viewer.output), time.monotonic()
            latencies = []
            for i in range(args.keys):
                since = len(viewer.output)
                os.write(viewer.fd, b"s")
                latencies.append(viewer.wait_for(SORT_LABELS[i % 3], since))
                viewer.pump_for(0.5)
        finally:
            viewer.quit()
            writer.kill()
            writer.wait()
    window = t1 - t0
    return {
        "cpu_pct": 100 * (cpu1 - cpu0) / window,
        "bytes_per_s": (bytes1 - bytes0) / window,
        "latency_median_ms": 1000 * statistics.median(latencies),
        "latency_max_ms": 1000 * max(latencies),
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--keys", type=int, default=9, help="key presses timed")
    parser.add_argument("--refresh", type=float, default=0.5, help="gradtop watch --refresh")
    parser.add_argument("--size", action="append", help="COLSxROWS (repeatable)")
    parser.add_argument("--prefill", type=int, default=2000, help="steps already logged")
    parser.add_argument("--writer", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        path, n, rate, seconds, prefill = args.writer
        writer_main(path, int(n), float(rate), float(seconds), int(prefill))
        return
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["80x24", "200x60"])]
    print(f"machine: {machine()}")
    print(
        f"writer: {args.params} tensors, {args.prefill} steps logged before the viewer starts, "
        f"then {args.rate:g} records/s; gradtop watch --refresh {args.refresh}"
    )
    print("| terminal | CPU (% of 1 core) | to terminal | key latency median/max | first frame |")
    print("|---|---|---|---|---|")
    for cols, rows in sizes:
        ff = first_frame(cols, rows)
        r = steady_state(args, cols, rows)
        print(
            f"| {cols}x{rows} | {r['cpu_pct']:.1f} % | {r['bytes_per_s'] / 1024:.1f} KB/s "
            f"| {r['latency_median_ms']:.0f} / {r['latency_max_ms']:.0f} ms | {ff:.2f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
