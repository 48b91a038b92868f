"""gradtop under torch.distributed: real 2-process gloo jobs on CPU.

Each test starts two ``dist_worker.py`` processes (as torchrun would: RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT), waits for both with a deadline and kills them past it, so a
hang fails the test instead of stalling the suite. The logged per-parameter statistics
must equal a naive, unsharded single-process reference to 1e-5.

Deselect with ``-m "not distributed"`` where spawning processes is not allowed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
import torch.distributed as dist

from tests.reference_support import COMPARED
from tests.support import assert_close, read_records, split

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]

# Run as a module from the repository root, so the worker imports tests.reference_support.
REPO = Path(__file__).resolve().parents[2]
WORKER = "tests.distributed.dist_worker"
DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(scenario: str, out: Path, pg_timeout: float = 20.0) -> list[subprocess.CompletedProcess]:
    """Run both ranks; return their results. Kills both if either outlives the deadline."""
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
            # A rank that aborts (SIGABRT, e.g. in a C++ destructor at exit) prints every
            # thread's Python stack into the stderr the failing assertion shows.
            "PYTHONFAULTHANDLER": "1",
            "GRADTOP_TEST_PG_TIMEOUT": str(pg_timeout),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", WORKER, scenario, str(out)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=DEADLINE)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate()
        pytest.fail(f"{scenario}: a rank was still running after {DEADLINE}s (hang)")
    return done


HEALTHY = ("ddp", "fsdp2", "tp", "fsdp2_tp")


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four healthy scenarios in one 2-process job (one start-up instead of four)."""
    out = tmp_path_factory.mktemp("healthy")
    results = launch(",".join(HEALTHY), out)
    _expect_ok(results)
    return out


def rank_result(out: Path, rank: int) -> dict[str, Any]:
    return json.loads((out / f"rank{rank}.json").read_text())


def _expect_ok(results: list[subprocess.CompletedProcess]) -> None:
    for rank, r in enumerate(results):
        assert r.returncode == 0, f"rank {rank} failed:\n{r.stderr[-4000:]}"


def _decode(value: Any) -> Any:
    if isinstance(value, str):  # the worker writes NaN/Inf as strings
        return float(value)
    return value


def _assert_matches_reference(out: Path, path: Path, n_steps: int) -> list[Any]:
    headers, steps, ends = split(read_records(path))
    assert len(headers) == 1, "exactly one header"
    assert len(steps) == n_steps, "exactly one record per logged step"
    assert len(ends) == 1
    reference = rank_result(out, 0)["reference"]
    assert len(reference) == n_steps
    for step, expected in zip(steps, reference, strict=True):
        for name in COMPARED:
            want = [_decode(v) for v in expected[name]]
            assert_close(step.stats[name], want, rel=1e-5, what=f"step {step.step} {name}")
    # Histograms and update ratios against the same model logged by a plain Logger.
    _, ref_steps, _ = split(read_records(out / "reference.jsonl"))
    for step, ref in zip(steps, ref_steps, strict=True):
        assert step.hist == ref.hist
        assert_close(step.stats["update_ratio"], ref.stats["update_ratio"], rel=1e-4)
    return headers


def test_ddp_rank0_writes_identical_gradients_and_skips_no_sync(healthy: Path) -> None:
    tmp_path = healthy / "ddp"
    assert sorted(p.name for p in tmp_path.glob("from_rank*.jsonl")) == ["from_rank0.jsonl"]
    headers = _assert_matches_reference(tmp_path, tmp_path / "from_rank0.jsonl", 3)
    header = headers[0]
    assert header.world_size == 2 and header.rank == 0
    assert header.parallel["strategy"] == "ddp" and header.parallel["dp"] == 2
    assert header.params[0].name == "0.weight"  # DDP's "module." prefix is gone
    r0, r1 = rank_result(tmp_path, 0), rank_result(tmp_path, 1)
    assert r0["active"] and not r1["active"]
    assert not r1["computed"]  # rank 1 built no statistics engine: no work at all
    assert any("no_sync" in w for w in r0["warnings"])  # the misplaced call was refused


def test_fsdp2_reduces_shards_to_the_unsharded_statistics(healthy: Path) -> None:
    tmp_path = healthy / "fsdp2"
    headers = _assert_matches_reference(tmp_path, tmp_path / "run.jsonl", 3)
    header = headers[0]
    assert header.parallel["strategy"] == "fsdp2"
    assert header.parallel["dp"] == 2 and header.parallel["tp"] == 1
    assert header.parallel["mesh_shape"] == [2]
    assert header.parallel["norm_type"] == 2 and header.parallel["grads"] == "pre-clip"
    assert [p.shape for p in header.params][-2:] == [(1, 5), (1,)]  # global shapes
    assert header.params[0].module_type == "Linear"  # not FSDP's "FSDPLinear"
    _, steps, _ = split(read_records(tmp_path / "run.jsonl"))
    assert sum(steps[-1].stats["nonfinite"]) > 0  # rank 1's NaN reached the reduction
    assert sum(steps[0].stats["nonfinite"]) == 0
    # One +inf in rank 1's shard only: counted once, in its parameter, nothing else.
    assert steps[1].stats["nonfinite"] == [1] + [0] * (len(steps[1].stats["nonfinite"]) - 1)
    assert steps[1].stats["grad_max"][0] == float("inf")
    assert rank_result(tmp_path, 1)["warnings"] == []


def test_tensor_parallel_replicated_parameters_count_once(healthy: Path) -> None:
    tmp_path = healthy / "tp"
    placements = rank_result(tmp_path, 0)["placements"]
    assert "Replicate" in placements["2.bias"] and placements["4.weight"] == "plain"
    headers = _assert_matches_reference(tmp_path, tmp_path / "run.jsonl", 3)
    assert headers[0].parallel["strategy"] == "tp" and headers[0].parallel["tp"] == 2


def test_fsdp2_over_tensor_parallel_2d_mesh(healthy: Path) -> None:
    tmp_path = healthy / "fsdp2_tp"
    placements = rank_result(tmp_path, 0)["placements"]
    assert "Replicate" in placements["2.bias"] and "Shard" in placements["0.weight"]
    headers = _assert_matches_reference(tmp_path, tmp_path / "run.jsonl", 3)
    parallel = headers[0].parallel
    assert parallel["strategy"] == "fsdp2+tp"
    assert (parallel["dp"], parallel["tp"]) == (1, 2)
    assert parallel["mesh_shape"] == [1, 2] and parallel["mesh_dims"] == ["dp", "tp"]


def test_a_dead_rank_is_reported_not_a_hang(tmp_path: Path) -> None:
    results = launch("fail", tmp_path, pg_timeout=10.0)
    tmp_path = tmp_path / "fail"
    assert results[1].returncode != 0
    assert "rank 1 crashed on purpose" in results[1].stderr
    assert results[0].returncode == 0, results[0].stderr[-4000:]
    warnings = rank_result(tmp_path, 0)["warnings"]
    assert any("distributed" in w and "reduction" in w for w in warnings), warnings
    headers, steps, ends = split(read_records(tmp_path / "run.jsonl"))
    assert len(headers) == 1 and steps == [] and len(ends) == 1
    assert ends[0].dropped >= 1  # the lost step is counted, not silently missing


def test_a_stalled_rank_times_out_instead_of_hanging(tmp_path: Path) -> None:
    results = launch("stall", tmp_path, pg_timeout=3.0)
    _expect_ok(results)
    tmp_path = tmp_path / "stall"
    warnings = rank_result(tmp_path, 0)["warnings"]
    assert any("distributed reduction failed" in w for w in warnings), warnings
    _, steps, ends = split(read_records(tmp_path / "run.jsonl"))
    assert steps == [] and ends[0].dropped == 1
