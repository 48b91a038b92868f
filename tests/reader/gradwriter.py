"""A real writer process for the reader's fault-injection tests, plus record factories.

Run as ``python gradwriter.py PATH [--no-append]``. It reads one JSON command per line
on stdin and answers ``ok`` after carrying it out, so the test knows exactly what is on
disk. Records go out like ``gradtop.Logger`` writes them: ``encode_record`` and one
``os.write`` per record on an ``O_APPEND`` descriptor (``--no-append`` keeps a private
offset instead, like a stale writer after a copytruncate). The file is opened at the
first write, so a test can start the writer before the file or its directory exists.

Commands: ``header``, ``steps``, ``raw``, ``blob``, ``half`` (part of a record, then
nothing: the test kills the process), ``repair`` (what the Logger does on open: a
``\\n`` if the file does not end with one), ``reopen`` (after a rename or delete) and
``exit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gradtop.records import encode_record

HERE = Path(__file__).resolve()


def header(run: str, n: int, names: list[str] | None = None, version: str = "1.0") -> dict:
    names = names or [f"layers.{i}.weight" for i in range(n)]
    return {
        "kind": "header",
        "format": "gradtop",
        "version": version,
        "run_id": run,
        "seq": 0,
        "time": 1_700_000_000.0,
        "host": "gpu7",
        "pid": 4242,
        "model": "MLP",
        "activations": ["Sigmoid"],
        "stats": ["grad_norm", "grad_max", "weight_norm", "nonfinite", "zero_frac"],
        "params": [
            {
                "name": name,
                "module": name.rsplit(".", 1)[0],
                "module_type": "Linear",
                "param": "weight",
                "shape": [4, 4],
                "numel": 16,
                "ndim": 2,
                "requires_grad": True,
                "in_optimizer": True,
            }
            for name in names
        ],
    }


def step(run: str, seq: int, n: int) -> dict:
    g = [1.0 / (seq + i + 1) for i in range(n)]
    return {
        "kind": "step",
        "run_id": run,
        "seq": seq,
        "step": seq,
        "time": 1_700_000_000.0 + seq,
        "loss": 2.0 / (1 + seq),
        "lr": [0.1],
        "total_grad_norm": sum(g),
        "stats": {
            "grad_norm": g,
            "grad_max": [v / 2 for v in g],
            "weight_norm": [1.0] * n,
            "nonfinite": [0] * n,
            "zero_frac": [0.0] * n,
        },
    }


def header_line(run: str, n: int, **kw: Any) -> bytes:
    return encode_record(header(run, n, **kw))


def step_line(run: str, seq: int, n: int) -> bytes:
    return encode_record(step(run, seq, n))


def _with_tokens(obj: dict, **tokens: bytes) -> bytes:
    """``obj`` as one JSON line, each ``"@name"`` string value swapped for raw bytes.

    That writes what no encoder would: bare ``Infinity``/``NaN`` (a legacy writer) or an
    integer of any size (orjson refuses those past 64 bits).
    """
    line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    for name, raw in tokens.items():
        line = line.replace(f'"@{name}"'.encode(), raw)
    return line


def hostile_lines(run: str, seq: int, n: int) -> list[bytes]:
    """Valid JSON lines about ``run`` that no reader can use: each must be one ``schema`` skip.

    Out-of-range numbers and wrongly typed header fields that once escaped the decoder as
    OverflowError, TypeError or ValueError and stopped the whole pipeline. The hostile
    steps are numbered ``seq``; headers of two other runs ("<run>-inf", "<run>-edges")
    are among them.
    """
    huge = b"1" + b"0" * 400  # past float range: only the legacy (stdlib) parser builds it

    def bad_step(**fields: Any) -> dict:
        obj = step(run, seq, n)
        obj.update(fields)
        return obj

    stat = bad_step(loss="@nan")
    stat["stats"]["grad_norm"][0] = "@huge"
    end = {"kind": "end", "run_id": run, "seq": seq, "time": "@inf", "steps": 1}
    return [
        _with_tokens(bad_step(step=2**63)),
        _with_tokens(bad_step(step=-(2**63) - 1)),
        _with_tokens(stat, nan=b"NaN", huge=huge),  # a legacy line with a 400-digit statistic
        _with_tokens(bad_step(loss="@huge", total_grad_norm="@nan"), nan=b"NaN", huge=huge),
        _with_tokens(bad_step(time="@inf"), inf=b"Infinity"),
        _with_tokens(end, inf=b"-Infinity"),
        _with_tokens(dict(header(f"{run}-inf", n), time="@inf"), inf=b"Infinity"),
        _with_tokens(dict(header(f"{run}-edges", n), hist_edges=[None])),
        _with_tokens(dict(header(f"{run}-edges", n), hist_edges=["x"])),
    ]


# ---------------------------------------------------------------------------- client


class Writer:
    """Test-side handle on a writer process; every call returns once the bytes are written."""

    def __init__(self, path: Path, *, append: bool = True) -> None:
        args = [sys.executable, str(HERE), str(path)] + ([] if append else ["--no-append"])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def do(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if answer != b"ok\n":
            raise RuntimeError(f"writer failed on {op}: {answer!r}, rc={self.proc.poll()}")

    def header(self, run: str, n: int, **kw: Any) -> None:
        self.do("header", run=run, n=n, kw=kw)

    def steps(self, run: str, start: int, count: int, n: int) -> None:
        self.do("steps", run=run, start=start, count=count, n=n)

    def raw(self, data: bytes) -> None:
        self.do("raw", hex=data.hex())

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: what the OOM killer sends
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError):
                self.do("exit")
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


# ---------------------------------------------------------------------------- process


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> None:
    path, append = argv[0], "--no-append" not in argv
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0)
    fd: int | None = None
    for raw in sys.stdin.buffer:
        cmd = json.loads(raw)
        op = cmd["op"]
        if op == "exit":
            print("ok", flush=True)
            return
        if op == "reopen":
            if fd is not None:
                os.close(fd)
            fd = None
        elif op == "repair":
            if os.path.exists(path) and os.path.getsize(path):
                with open(path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        fd = fd if fd is not None else os.open(path, flags, 0o644)
                        _write_all(fd, b"\n")
        else:
            if fd is None:
                fd = os.open(path, flags, 0o644)
            if op == "header":
                _write_all(fd, header_line(cmd["run"], cmd["n"], **cmd.get("kw", {})))
            elif op == "steps":
                for seq in range(cmd["start"], cmd["start"] + cmd["count"]):
                    _write_all(fd, step_line(cmd["run"], seq, cmd["n"]))  # one write per record
            elif op == "raw":
                _write_all(fd, bytes.fromhex(cmd["hex"]))
            elif op == "blob":
                _write_all(fd, cmd["byte"].encode() * cmd["size"] + b"\n")
            elif op == "half":
                line = step_line(cmd["run"], cmd["seq"], cmd["n"])
                _write_all(fd, line[: cmd["cut"]])
            else:
                raise SystemExit(f"unknown op {op!r}")
        print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
