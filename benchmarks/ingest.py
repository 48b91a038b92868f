"""How fast the viewer side ingests a gradtop log, and how soon a big log shows its newest step.

    .venv/bin/python benchmarks/ingest.py            # ~340 MB ingest file + a 1 GB log
    .venv/bin/python benchmarks/ingest.py --quick    # ~35 MB + 100 MB, for a smoke run

1. Ingest throughput over the same file, in the same run, page cache warm, best of N:
   a plain ``orjson.loads`` loop over its lines (the ceiling: parse only, results
   dropped), ``FileReader`` (split, decode, validate every record against its header;
   target >= 50 % of the plain loop) in the 1 MiB reads ``follow`` makes and in 16 MiB
   reads, and ``FileReader`` + ``History`` (what ``gradtop check`` and the UI back-fill
   do). Trials of the cases interleave, so load from other processes hits all alike.
2. ``read_latest`` on a 1 GB log, in a fresh process: time until the newest steps (and
   their run's header) are available, and that process's peak RSS (target < 1 s and
   < 300 MB). Two layouts: one run (header on the first line) and two runs (the newest
   run's header half a gigabyte back).

Records are made with ``gradtop.records.encode_record`` from full-precision float64
values, as the Logger writes them. Generated files live in a temporary directory and
are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from gradtop.history import History
from gradtop.reader import READ_BYTES, FileReader
from gradtop.records import PARAM_STATS, encode_record

FOLLOW_BATCH = READ_BYTES  # what follow(), check and the UI worker read per call
POOL = 64  # distinct stat rows, cycled: generation stays fast, lines stay realistic


def header(run: str, n: int) -> dict:
    return {
        "kind": "header",
        "format": "gradtop",
        "version": "1.0",
        "run_id": run,
        "seq": 0,
        "time": time.time(),
        "model": "Transformer",
        "stats": list(PARAM_STATS),
        "params": [
            {
                "name": f"blocks.{i // 4}.mlp.fc{i % 4}.weight",
                "module": f"blocks.{i // 4}.mlp.fc{i % 4}",
                "module_type": "Linear",
                "param": "weight",
                "shape": [1024, 1024],
                "numel": 1 << 20,
                "ndim": 2,
                "requires_grad": True,
                "in_optimizer": True,
            }
            for i in range(n)
        ],
    }


def stat_pool(n: int, rng: random.Random) -> list[dict[str, list]]:
    def floats(scale: float) -> list[float]:
        return [rng.random() * scale for _ in range(n)]

    return [
        {
            "grad_norm": floats(1e-2),
            "grad_max": floats(1e-3),
            "weight_norm": floats(30.0),
            "nonfinite": [0] * n,
            "zero_frac": floats(1e-3),
            "update_ratio": floats(1e-3),
        }
        for _ in range(POOL)
    ]


def write_log(path: Path, runs: list[tuple[str, int]], n: int, seed: int = 0) -> int:
    """Append runs of ``(run_id, steps)`` to ``path``; returns the file size."""
    rng = random.Random(seed)
    pool = stat_pool(n, rng)
    with open(path, "ab", buffering=8 << 20) as f:
        for run, steps in runs:
            f.write(encode_record(header(run, n)))
            for s in range(1, steps + 1):
                record = {
                    "kind": "step",
                    "run_id": run,
                    "seq": s,
                    "step": s,
                    "time": 1.7e9 + s * 0.05,
                    "loss": 2.0 / (1 + s) + rng.random() * 1e-3,
                    "lr": [3e-4],
                    "total_grad_norm": rng.random(),
                    "loss_scale": None,
                    "step_time": 0.05,
                    "scalars": {},
                    "stats": pool[s % POOL],
                    "hist": None,
                }
                f.write(encode_record(record))
    return path.stat().st_size


def best_of(repeat: int, cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best time of each case; trials interleave so that load from other processes
    (a shared machine) hits every case alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def plain_orjson(path: Path) -> None:
    loads = orjson.loads
    with open(path, "rb") as f:
        for line in f:
            loads(line)


def file_reader(path: Path, batch: int, history: History | None = None) -> int:
    records = 0
    with FileReader(path) as reader:
        while True:
            got = reader.read(batch)
            records += len(got.records)
            if history is not None:
                history.extend(got.records)
            if got.status.at_eof:
                return records


def ingest(path: Path, repeat: int) -> dict[str, float]:
    size = path.stat().st_size
    plain_orjson(path)  # warm the page cache
    best = best_of(
        repeat,
        {
            "orjson": lambda: plain_orjson(path),
            "reader": lambda: file_reader(path, FOLLOW_BATCH),
            "reader_16mib": lambda: file_reader(path, 16 << 20),
        },
    )
    best |= best_of(1, {"reader_history": lambda: file_reader(path, FOLLOW_BATCH, History())})
    out = {name: size / t / 1e6 for name, t in best.items()}
    out["size_mb"] = size / 1e6
    out["ratio"] = out["reader"] / out["orjson"]
    out["ratio_16mib"] = out["reader_16mib"] / out["orjson"]
    return out


LATEST = """
import json, resource, sys, time
from gradtop.reader import read_latest

def rss_mb(field):
    # /proc/self/status belongs to this process image; ru_maxrss would include the
    # parent's pages at fork time on Linux.
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field)) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

before = rss_mb("VmRSS:")
t = time.perf_counter()
batch = read_latest(sys.argv[1], max_steps=int(sys.argv[2]))
dt = time.perf_counter() - t
steps = [r for r in batch.records if type(r).__name__ == "Step"]
print(json.dumps({"seconds": dt, "records": len(batch.records), "newest": steps[-1].step,
                  "header": type(batch.records[0]).__name__, "skipped": dict(batch.status.skipped),
                  "rss_before_mb": before, "peak_rss_mb": rss_mb("VmHWM:")}))
"""


def latest(path: Path, max_steps: int, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", LATEST, str(path), str(max_steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout))
    return min(runs, key=lambda r: r["seconds"])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {sys.platform}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--params", type=int, default=200)
    ap.add_argument("--steps", type=int, help="steps in the ingest file")
    ap.add_argument("--latest-mb", type=int, help="size of the read_latest file")
    ap.add_argument("--max-steps", type=int, default=2000, help="read_latest max_steps")
    ap.add_argument("--dir", help="where to generate files (default: a temp dir)")
    args = ap.parse_args()
    steps = args.steps or (2_000 if args.quick else 20_000)
    latest_mb = args.latest_mb or (100 if args.quick else 1024)
    repeat = 2 if args.quick else 3
    work = Path(tempfile.mkdtemp(prefix="gradtop-bench-", dir=args.dir))
    try:
        print(f"machine: {machine()}")
        path = work / "ingest.jsonl"
        write_log(path, [("ingest", steps)], args.params)
        r = ingest(path, repeat)
        print(
            f"ingest: {steps} steps x {args.params} params, {r['size_mb']:.0f} MB: "
            f"orjson.loads loop {r['orjson']:.0f} MB/s; FileReader {r['reader']:.0f} MB/s "
            f"({r['ratio']:.0%} of it) in {FOLLOW_BATCH >> 20} MiB reads, "
            f"{r['reader_16mib']:.0f} MB/s ({r['ratio_16mib']:.0%}) in 16 MiB reads; "
            f"FileReader+History {r['reader_history']:.0f} MB/s"
        )
        path.unlink()
        line_bytes = r["size_mb"] * 1e6 / (steps + 1)
        total = int(latest_mb * 2**20 / line_bytes)
        for layout, runs in (
            ("one run", [("only", total)]),
            ("two runs", [("first", total // 2), ("second", total - total // 2)]),
        ):
            big = work / "latest.jsonl"
            size = write_log(big, runs, args.params, seed=1)
            res = latest(big, args.max_steps, repeat)
            print(
                f"read_latest, {layout}, {size / 2**30:.2f} GiB, max_steps={args.max_steps}: "
                f"{res['seconds'] * 1000:.0f} ms to the newest step ({res['newest']}), "
                f"{res['records']} records, peak RSS {res['peak_rss_mb']:.0f} MB "
                f"(process after imports: {res['rss_before_mb']:.0f} MB)"
            )
            big.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
