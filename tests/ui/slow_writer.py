"""A stand-in training process for the end-to-end test: appends records like the Logger.

Usage: python slow_writer.py PATH STEPS DELAY. One ``os.write`` per record on an
O_APPEND descriptor, a pause between steps, and an ``end`` record at the close.
"""

from __future__ import annotations

import os
import sys
import time

from gradtop.records import End, Header, ParamInfo, Step, encode_record


def main(path: str, steps: int, delay: float) -> None:
    params = tuple(
        ParamInfo(f"layers.{i}.weight", f"layers.{i}", "Linear", "weight", (8, 8), 64, True, True)
        for i in range(6)
    )
    run_id = f"writer-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, encode_record(Header(run_id, time.time(), params, model="Toy").to_json()))
        for s in range(1, steps + 1):
            norms = [0.01 * (i + 1) for i in range(len(params))]
            step = Step(run_id, s, s, time.time(), loss=1.0 / s, lr=[0.01])
            step.stats = {"grad_norm": norms, "weight_norm": [1.0] * len(params)}
            os.write(fd, encode_record(step.to_json()))
            time.sleep(delay)
        os.write(fd, encode_record(End(run_id, steps + 1, time.time(), steps).to_json()))
    finally:
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
