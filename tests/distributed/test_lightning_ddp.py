"""Lightning strategies on 2 real CPU processes (gloo): DDP and ModelParallelStrategy (FSDP2).

Rank 0 writes one header and one record per optimizer step; the statistics equal the
full-tensor statistics the module's own ``on_before_optimizer_step`` sees on each rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning.pytorch", reason="Lightning is not installed")
from tests.support import assert_close, read_records, split

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]

WORKER = Path(__file__).with_name("lightning_ddp_worker.py")


@pytest.mark.parametrize("kind", ["ddp", "fsdp2"])
def test_lightning_two_cpu_processes(tmp_path: Path, kind: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    try:
        result = subprocess.run(
            [sys.executable, str(WORKER), str(tmp_path), kind],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=150,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"Lightning DDP run hung past its deadline:\n{exc.stderr!s:.4000}")
    assert result.returncode == 0, result.stderr[-4000:]
    headers, steps, ends = split(read_records(tmp_path / "run.jsonl"))
    assert len(headers) == 1 and len(ends) == 1  # rank 1 wrote nothing
    assert headers[0].world_size == 2 and headers[0].parallel["strategy"] == kind
    assert [s.step for s in steps] == [1, 2, 3]
    ref0 = json.loads((tmp_path / "reference0.json").read_text())
    ref1 = json.loads((tmp_path / "reference1.json").read_text())
    for step, expected, other in zip(steps, ref0, ref1, strict=True):
        for name in ("grad_norm", "grad_max", "weight_norm"):
            assert_close(step.stats[name], expected[name], what=name)
            # Synchronised accumulated gradients: rank 1's full tensors are the same.
            assert_close(other[name], expected[name], what=f"rank 1 {name}")
        assert step.total_grad_norm > 0.01 * 10  # pre-clip (gradient_clip_val=0.01)
