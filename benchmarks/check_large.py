"""How fast ``gradtop check`` reads a large log written by the real Logger.

    .venv/bin/python benchmarks/check_large.py                 # 1 GB and 3 GB logs
    .venv/bin/python benchmarks/check_large.py --sizes-gb 0.1  # a smoke run
    .venv/bin/python benchmarks/check_large.py --profile 1     # + cProfile of one check

The records come from ``gradtop.Logger`` itself, on a real model (50 blocks of
Linear(16, 16) + LayerNorm and a head: 202 parameter tensors) trained with Adam for
``--steps`` steps at the Logger's defaults: the slow statistics (weight_norm, zero_frac,
update_ratio) on every 10th step, all-null arrays on the others. This is what
``benchmarks/ingest.py`` cannot show: its records are all numbers. That log is then
grown to each size by repeating its step lines with rewritten seq, step and time (one
header, one end record), so the file is the real Logger's lines, only longer.

Measured on each file in the same run, page cache warm:

- a plain ``orjson.loads`` loop over the lines (the baseline: parse only);
- ``jq empty FILE`` in a child process, if ``jq`` is on PATH (parse only, no output; its
  CPU time from ``os.wait4``);
- the reader alone: ``FileReader`` reading to EOF in the reads ``check`` makes;
- ``gradtop check --json FILE`` in-process, through the CLI function;
- the same in a child process: its CPU time from ``resource.getrusage`` and its peak
  RSS as VmHWM, both read inside the child, so nothing of this process is counted.

Wall-clock MB/s and CPU-time MB/s are both printed (on a shared machine CPU time is the
steadier figure), with ratios to the baseline. The check's JSON output is hashed, so
runs before and after a change can be compared for identical results. Files live in a
temporary directory (``--dir``, default /tmp) and are deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import torch
from torch import nn

import gradtop
from gradtop.check import READ_BYTES
from gradtop.cli import main as cli_main
from gradtop.reader import FileReader

# The fields the grown copies rewrite; the Logger writes them in this order, first.
_COUNTERS = re.compile(rb'^(\{"kind":"step",.*?"seq":)(\d+)(,"step":)(\d+)(,"time":)([0-9.e+]+)')
_END = re.compile(rb'^(\{"kind":"end",.*?"seq":)(\d+)(,"time":)([0-9.e+]+)(,"steps":)(\d+)')


def model() -> nn.Module:
    """202 parameter tensors: the size of the log in issue 14 (200 tensors)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(50):
        layers += [nn.Linear(16, 16), nn.LayerNorm(16), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(16, 1))


def write_real_log(path: Path, steps: int) -> tuple[int, int]:
    """Train ``model()`` for ``steps`` steps under the default Logger; (tensors, dropped)."""
    torch.set_num_threads(1)
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(64, 16)
    y = x.sum(dim=1, keepdim=True)
    with gradtop.Logger(path, net, opt) as log:
        for _ in range(steps):
            loss = nn.functional.mse_loss(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            log.log(loss)
            opt.step()
        dropped = log.dropped
    return sum(1 for _ in net.parameters()), dropped


def grow(base: Path, out: Path, size: int) -> tuple[int, int]:
    """``base`` repeated to at least ``size`` bytes: steps renumbered; (bytes, steps)."""
    lines = base.read_bytes().splitlines(keepends=True)
    header = lines[0]
    body = [(m, line) for line in lines[1:] if (m := _COUNTERS.match(line))]
    end = next((_END.match(line) for line in lines if line.startswith(b'{"kind":"end"')), None)
    if not body:
        raise SystemExit(f"{base}: no step lines the grower understands")
    n = int(body[-1][0][4])
    t0, t1 = float(body[0][0][6]), float(body[-1][0][6])
    span = (t1 - t0) * (1 + 1 / max(1, n - 1))
    parts = [
        (m[1], int(m[2]), m[3], int(m[4]), m[5], float(m[6]), line[m.end() :]) for m, line in body
    ]
    written, copy, steps = len(header), 0, 0
    with open(out, "wb", buffering=16 << 20) as f:
        f.write(header)
        while written < size:
            for pre, seq, mid, step, mid2, when, rest in parts:
                line = b"".join(
                    (
                        pre,
                        b"%d" % (seq + copy * n),
                        mid,
                        b"%d" % (step + copy * n),
                        mid2,
                        repr(when + copy * span).encode(),
                        rest,
                    )
                )
                f.write(line)
                written += len(line)
            copy += 1
            steps += len(parts)
        if end is not None:
            line = (
                b"".join(
                    (
                        end[1],
                        b"%d" % (steps + 1),
                        end[3],
                        repr(float(end[4]) + (copy - 1) * span).encode(),
                        end[5],
                        b"%d" % steps,
                    )
                )
                + lines[-1][end.end() :]
            )
            f.write(line)
            written += len(line)
    return written, steps


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def plain_orjson(path: Path) -> int:
    loads, lines = orjson.loads, 0
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            lines += 1
    return lines


def reader_only(path: Path) -> int:
    records = 0
    with FileReader(path) as reader:
        while True:
            batch = reader.read(READ_BYTES)
            records += len(batch.records)
            if batch.status.at_eof:
                return records


def jq_child(path: Path) -> tuple[float, float, float | None] | None:
    """``jq empty FILE`` (parse every line, print nothing): (wall s, CPU s, peak RSS MB),
    or None without jq. CPU time comes from ``os.wait4`` of that child only. Its peak RSS
    needs ``/usr/bin/time`` (None without it): the ``ru_maxrss`` of a child forked from
    this process carries this process's high-water mark (hundreds of MB of torch)."""
    jq = shutil.which("jq")
    if jq is None:
        return None
    gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    argv = [jq, "empty", str(path)]
    if gnu_time is not None:
        argv = [gnu_time, "-f", "gradtop-jq-rss-kb %M", *argv]
    wall = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall
    if proc.returncode != 0:
        raise SystemExit(f"jq exited {proc.returncode}: {err[-500:]!r}")
    rss = re.search(rb"gradtop-jq-rss-kb (\d+)", err)
    return wall, usage.ru_utime + usage.ru_stime, int(rss[1]) / 1024 if rss else None


def check_in_process(path: Path) -> tuple[int, bytes]:
    """``gradtop check --json`` through the CLI function: (exit code, its stdout)."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            cli_main(["check", "--json", "--fail-on", "never", str(path)], standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue().encode()


CHILD = """
import json, resource, sys
from gradtop.cli import main
try:
    main(["check", "--json", "--fail-on", "never", sys.argv[1]], standalone_mode=False)
except SystemExit:
    pass
usage = resource.getrusage(resource.RUSAGE_SELF)
with open("/proc/self/status") as f:  # this image's peak; ru_maxrss may hold the parent's
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "ru_maxrss_mb": usage.ru_maxrss / 1024,
                  "hwm_mb": hwm / 1024}), file=sys.stderr)
"""


def check_child(path: Path) -> dict[str, float]:
    """The same check in a fresh process: its wall time, and its own CPU time and peak RSS.

    ``resource.getrusage`` in the child gives its CPU time; its peak RSS is VmHWM, because
    on Linux ``ru_maxrss`` carries over the high-water mark of the forking parent.
    """
    wall = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=True,
    )
    out = orjson.loads(done.stderr.splitlines()[-1])
    out["wall"] = time.perf_counter() - wall
    return out


def report_digest(output: bytes) -> str:
    """A digest of the check's JSON report without its ``file`` (a temporary path), so
    that two runs, or two versions of gradtop, on the same log can be compared."""
    report = orjson.loads(output)
    report.pop("file", None)
    return hashlib.sha256(orjson.dumps(report, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def lscpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return os.uname().machine
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return ", ".join(
        f"{key.strip()}: {fields[key].strip()}"
        for key in ("Model name", "CPU(s)", "Thread(s) per core", "L3")
        if key in fields
    )


def measure(path: Path, profile: bool) -> None:
    size = path.stat().st_size
    mb = size / 1e6
    plain_orjson(path)  # warm the page cache
    rows: list[tuple[str, float, float]] = []
    wall, cpu, lines = timed(lambda: plain_orjson(path))
    rows.append(("plain orjson.loads loop (baseline)", wall, cpu))
    jq = jq_child(path)
    if jq is not None:
        rows.append(("jq empty (child process)", jq[0], jq[1]))
    wall, cpu, records = timed(lambda: reader_only(path))
    rows.append((f"FileReader.read({READ_BYTES >> 20} MiB) to EOF", wall, cpu))
    wall, cpu, (code, output) = timed(lambda: check_in_process(path))
    rows.append(("gradtop check --json, in-process (CLI function)", wall, cpu))
    child = check_child(path)
    rows.append(("gradtop check --json, child process", child["wall"], child["cpu"]))
    base_wall, base_cpu = rows[0][1], rows[0][2]
    reader_cpu = next(c for name, _, c in rows if name.startswith("FileReader"))
    jq_cpu = jq[1] if jq is not None else None
    print(f"\n{path.name}: {mb:,.0f} MB, {lines:,} lines, {records:,} records")
    print(
        f"{'':52} {'wall s':>8} {'MB/s':>7} {'x base':>7} {'CPU s':>8} {'MB/s':>7} {'x base':>7}"
        f" {'x reader':>8} {'x jq':>6}"
    )
    for name, w, c in rows:
        vs_jq = f"{c / jq_cpu:6.2f}" if jq_cpu else f"{'-':>6}"
        print(
            f"{name:52} {w:8.1f} {mb / w:7.0f} {w / base_wall:7.1f} "
            f"{c:8.1f} {mb / c:7.0f} {c / base_cpu:7.1f} {c / reader_cpu:8.2f} {vs_jq}"
        )
    if jq is not None:
        rss = f"{jq[2]:.0f} MB" if jq[2] is not None else "unknown (no /usr/bin/time)"
        print(f"jq peak RSS {rss}")
    print(
        f"child process peak RSS (VmHWM) {child['hwm_mb']:.0f} MB, ru_maxrss "
        f"{child['ru_maxrss_mb']:.0f} MB; check exit {code}; "
        f"JSON report sha256 {report_digest(output)}"
    )
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(check_in_process, path)
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(30)
        stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="steps the real Logger writes")
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--profile", type=float, help="also cProfile the check of this size (GB)")
    ap.add_argument("--dir", default="/tmp", help="where the logs are written")
    ap.add_argument("--base", type=Path, help="grow this Logger log instead of training one")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradtop-check-large-", dir=args.dir))
    try:
        print(f"machine: {lscpu()}; Python {sys.version.split()[0]}; torch {torch.__version__}")
        print(f"load average at start: {os.getloadavg()}")
        if args.base is not None:
            base = args.base
            print(f"Logger log given: {base}, {base.stat().st_size / 1e6:.1f} MB")
        else:
            base = work / "real.jsonl"
            t = time.perf_counter()
            tensors, dropped = write_real_log(base, args.steps)
            print(
                f"real Logger log: {args.steps} steps x {tensors} tensors, "
                f"{base.stat().st_size / 1e6:.1f} MB, {dropped} dropped, "
                f"{time.perf_counter() - t:.0f} s to train"
            )
        for gb in args.sizes_gb:
            path = work / f"grown-{gb:g}gb.jsonl"
            size, steps = grow(base, path, int(gb * 1e9))
            print(f"\ngrown to {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB), {steps:,} steps")
            measure(path, profile=args.profile == gb)
            print(f"load average after: {os.getloadavg()}")
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
