"""The logged per-parameter statistics agree with a naive one-parameter-at-a-time reference.

Each test trains a real tiny model, logs through the real Logger into a real file, reads
the file back strictly and compares with ``reference_support.naive_stats``. The fused
(accelerator) counting path is forced on CPU with ``sync_free=True`` so that it is
checked too, against the same reference.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

import gradtop
from gradtop.logger.finalise import finalise
from gradtop.logger.reductions import nonfinite_fused
from gradtop.logger.stats import StatsEngine
from tests.logger.logger_support import backward, mlp
from tests.reference_support import naive_stats
from tests.support import assert_close, headers, read_records, steps

STATS = ("grad_norm", "grad_max", "weight_norm", "nonfinite", "zero_frac")


def _log_once(path: Path, model: nn.Module, **kwargs: object) -> dict[str, list[float | None]]:
    """Log the gradients the model holds now; return the step's stats from the file."""
    with gradtop.Logger(path, model, **kwargs) as log:  # type: ignore[arg-type]
        log.log(0.5)
    (step,) = steps(read_records(path))
    return step.stats  # type: ignore[return-value]


def _compare(stats: dict[str, list[float | None]], model: nn.Module, rel: float = 1e-5) -> None:
    expected = naive_stats(model)
    for name in STATS:
        assert_close(stats[name], expected[name], rel=rel)


def _engine_stats(model: nn.Module, sync_free: bool) -> dict[str, list[float | int | None]]:
    engine = StatsEngine(list(model.parameters()), sync_free=sync_free)
    matrix = engine.partials().matrix.tolist()
    return finalise(matrix, engine.numels, None).stats


def test_plain_mlp_matches_reference(tmp_path: Path) -> None:
    model = mlp()
    backward(model)
    stats = _log_once(tmp_path / "run.jsonl", model)
    _compare(stats, model)
    assert all(v == 0 for v in stats["nonfinite"])


def test_header_lists_parameters_in_depth_order(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.LayerNorm(4), nn.Linear(4, 2))
    opt = torch.optim.SGD(model[3].parameters(), lr=0.1)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt):
        pass
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert [p.name for p in header.params] == [n for n, _ in model.named_parameters()]
    assert [p.module_type for p in header.params] == ["Linear"] * 2 + ["LayerNorm"] * 2 + [
        "Linear"
    ] * 2
    assert [p.in_optimizer for p in header.params] == [False] * 4 + [True] * 2
    assert header.params[0].shape == (4, 4) and header.params[0].numel == 16
    assert header.activations == ("Sigmoid",) and header.norms == ("LayerNorm",)
    assert header.optimizer == "SGD" and header.model == "Sequential"
    assert header.total_params == sum(p.numel() for p in model.parameters())


def test_functional_activation_of_transformer_layer_is_listed(tmp_path: Path) -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", batch_first=True)
    with gradtop.Logger(tmp_path / "run.jsonl", layer):
        pass
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert "GELU" in header.activations and "LayerNorm" in header.norms


@pytest.mark.parametrize("sync_free", [False, True], ids=["cpu-branch", "fused"])
def test_nan_and_inf_are_counted_exactly(tmp_path: Path, sync_free: bool) -> None:
    model = mlp()
    backward(model)
    grads = [p.grad for p in model.parameters()]
    assert grads[0] is not None and grads[2] is not None and grads[5] is not None
    grads[0][0, :3] = float("nan")
    grads[2][1, 1] = float("inf")
    grads[2][2, 2] = float("-inf")
    grads[5][0] = float("nan")
    grads[5][1] = float("inf")
    expected = naive_stats(model)
    assert expected["nonfinite"][:6] == [3.0, 0.0, 2.0, 0.0, 0.0, 2.0]
    _compare(_log_once(tmp_path / "run.jsonl", model), model)
    stats = _engine_stats(model, sync_free)
    assert stats["nonfinite"][:6] == [3, 0, 2, 0, 0, 2]
    assert math.isnan(stats["grad_norm"][0])  # type: ignore[arg-type]
    assert stats["grad_norm"][2] == math.inf
    assert_close(stats["zero_frac"], expected["zero_frac"])


def test_fused_path_matches_reference_on_healthy_gradients() -> None:
    model = mlp()
    backward(model)
    expected = naive_stats(model)
    stats = _engine_stats(model, sync_free=True)
    for name in STATS:
        assert_close(stats[name], expected[name])


def test_frozen_and_unused_parameters_are_null(tmp_path: Path) -> None:
    class Partly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frozen = nn.Linear(8, 8)
            self.used = nn.Linear(8, 3)
            self.unused = nn.Linear(8, 3)
            self.frozen.requires_grad_(False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(self.frozen(x))

    model = Partly()
    backward(model)
    stats = _log_once(tmp_path / "run.jsonl", model)
    _compare(stats, model)
    grad_norm = stats["grad_norm"]
    assert grad_norm[:2] == [None, None] and grad_norm[4:] == [None, None]
    assert None not in grad_norm[2:4]
    assert stats["weight_norm"][0] is not None  # weights are always measured
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert [p.requires_grad for p in header.params] == [False, False, True, True, True, True]


def test_log_before_any_backward(tmp_path: Path) -> None:
    model = mlp()
    stats = _log_once(tmp_path / "run.jsonl", model)
    assert set(stats["grad_norm"]) == {None} and None not in stats["weight_norm"]
    (step,) = steps(read_records(tmp_path / "run.jsonl"))
    assert step.total_grad_norm is None


def test_sparse_embedding_gradients(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 6, sparse=True), nn.Flatten(), nn.Linear(24, 2))
    tokens = torch.tensor([[1, 2, 2, 7], [7, 7, 3, 1]])  # repeats: uncoalesced sparse grad
    model(tokens).sum().backward()
    grad = model[0].weight.grad
    assert grad is not None and grad.is_sparse
    stats = _log_once(tmp_path / "run.jsonl", model)
    _compare(stats, model)
    assert stats["zero_frac"][0] == pytest.approx(1 - 4 * 6 / (50 * 6))


def test_sparse_gradient_with_nan(tmp_path: Path) -> None:
    model = nn.Embedding(10, 4, sparse=True)
    model(torch.tensor([1, 3])).sum().backward()
    grad = model.weight.grad
    assert grad is not None
    model.weight.grad = torch.sparse_coo_tensor(
        grad._indices(), grad._values() * float("nan"), grad.shape, check_invariants=True
    )
    stats = _log_once(tmp_path / "run.jsonl", model)
    assert stats["nonfinite"] == [8]
    _compare(stats, model)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision_parameters_are_reduced_in_fp32(tmp_path: Path, dtype: torch.dtype) -> None:
    model = mlp().to(dtype)
    x = torch.randn(4, 8, dtype=dtype)
    model(x).float().pow(2).sum().backward()
    stats = _log_once(tmp_path / "run.jsonl", model)
    # The reference sees the same half-precision values, upcast; only fp32
    # accumulation order differs.
    _compare(stats, model, rel=1e-4)
    fused = _engine_stats(model, sync_free=True)  # the accelerator path, on the same grads
    for name in STATS:
        assert_close(fused[name], naive_stats(model)[name], rel=1e-4)


def test_mixed_dtypes_and_zero_size_parameter_keep_header_order(tmp_path: Path) -> None:
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8).to(torch.float64)
            self.empty = nn.Parameter(torch.zeros(0))
            self.c = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.b(self.a(x).double()).float()
            return self.c(h) + self.empty.sum()

    model = Mixed()
    model(torch.randn(3, 8)).sum().backward()
    stats = _log_once(tmp_path / "run.jsonl", model)
    expected = naive_stats(model)
    for name in ("grad_norm", "grad_max", "weight_norm", "nonfinite"):
        assert_close(stats[name], expected[name])
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "empty"  # the root module's own parameters come first
    assert stats["zero_frac"][0] is None  # 0 elements: the fraction is undefined
    assert stats["grad_norm"][0] == 0.0
    assert_close(stats["zero_frac"], expected["zero_frac"])


def test_total_grad_norm_is_the_pre_clip_global_norm(tmp_path: Path) -> None:
    model = mlp()
    backward(model)
    with gradtop.Logger(tmp_path / "run.jsonl", model) as log:
        log.log(1.0)
        returned = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e-3)
    (step,) = steps(read_records(tmp_path / "run.jsonl"))
    assert step.total_grad_norm == pytest.approx(float(returned), rel=1e-5)


def test_dead_relu_units_show_as_zero_fraction(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[0].bias[:8] = -100.0  # half the units never fire
    backward(model)
    stats = _log_once(tmp_path / "run.jsonl", model)
    _compare(stats, model)
    assert stats["zero_frac"][0] == pytest.approx(0.5)


def test_histogram_bins_log_magnitudes_every_nth_logged_step(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)  # weight has 6 entries, bias 2
    path = tmp_path / "run.jsonl"
    with gradtop.Logger(path, model, hist=True, hist_every=2) as log:
        for _ in range(3):
            model.weight.grad = torch.tensor(
                [[0.0, 2e-3, -2e-3], [5.0, float("nan"), float("inf")]]
            )
            model.bias.grad = None
            log.log(1.0)
    records = read_records(path)
    (header,) = headers(records)
    edges = header.hist_edges
    assert edges is not None and edges[0] == -12.0 and edges[-1] == 4.0
    first, second, third = steps(records)
    assert second.hist is None and first.hist == third.hist
    assert first.hist is not None
    weight_hist, bias_hist = first.hist
    assert bias_hist is None  # no gradient: no histogram
    assert weight_hist is not None and len(weight_hist) == len(edges) - 1
    expected = [0] * (len(edges) - 1)
    expected[0] += 1  # exact zero: below the first edge, counted in the first bin
    expected[edges.index(-3.0)] += 2  # |g| = 2e-3 is in [1e-3, 1e-2)
    expected[edges.index(0.0)] += 1  # 5 is in [1e0, 1e1)
    expected[-1] += 1  # Inf: at or above the last edge
    assert weight_hist == expected  # NaN is not counted


def test_fused_nonfinite_count_splits_and_batches_within_its_memory_bound() -> None:
    gen = torch.Generator().manual_seed(3)
    big = torch.randn(50, 50, generator=gen)  # 2500 elements: split into 3 pieces of <=1000
    big.view(-1)[[0, 999, 1000, 2499]] = torch.tensor([float("nan"), float("inf"), -1e38, 0.0])
    small = torch.randn(10, generator=gen)
    small[3] = float("-inf")
    strided = torch.randn(40, 40, generator=gen).t()  # not contiguous: counted whole
    strided[1, 2] = float("nan")
    half = torch.randn(700, generator=gen).to(torch.bfloat16)
    half[[5, 6]] = float("inf")
    grads = [big, small, strided, half]
    counts = nonfinite_fused(grads, chunk=1000)
    assert [int(c) for c in counts] == [int((~torch.isfinite(g)).sum()) for g in grads]
    assert [int(c) for c in counts] == [2, 1, 1, 2]


def test_tied_weights_are_listed_once_and_parameterless_models_work(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight  # tied input/output embedding

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(tokens))

    model = Tied()
    model(torch.tensor([1, 2, 3])).sum().backward()
    stats = _log_once(tmp_path / "tied.jsonl", model)
    (header,) = headers(read_records(tmp_path / "tied.jsonl"))
    assert [p.name for p in header.params] == ["embed.weight"]
    _compare(stats, model)

    with gradtop.Logger(tmp_path / "empty.jsonl", nn.ReLU()) as log:
        log.log(1.0)
    (step,) = steps(read_records(tmp_path / "empty.jsonl"))
    assert step.loss == 1.0 and step.total_grad_norm is None
    assert step.stats["grad_norm"] == []


def test_huge_finite_gradients_are_not_reported_non_finite(tmp_path: Path) -> None:
    """|g| = 1e20 is finite in fp32 but its square is not: the sum of squares is redone in
    float64 instead of reporting an Inf norm with zero NaN/Inf entries."""
    model = mlp()
    backward(model)
    first = next(model.parameters())
    assert first.grad is not None
    first.grad[0, :3] = 1e20
    stats = _log_once(tmp_path / "run.jsonl", model)
    _compare(stats, model)
    assert stats["nonfinite"][0] == 0 and stats["grad_norm"][0] == pytest.approx(1e20 * 3**0.5)


@pytest.mark.parametrize("sync_free", [False, True], ids=["cpu-branch", "fused"])
def test_pruned_weights_negative_zero_gradients_count_as_zero(
    tmp_path: Path, sync_free: bool
) -> None:
    """Pruning multiplies by a 0/1 mask, so masked entries get -0.0 wherever the gradient
    arriving from above is negative: those entries are zero and must count as such."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    prune.random_unstructured(model[0], "weight", amount=0.5)
    backward(model)
    grad = model[0].weight_orig.grad
    assert grad is not None
    negative_zero = (grad == 0) & torch.signbit(grad)
    assert int(negative_zero.sum()) > 0, "the setup must produce -0.0 gradients"
    expected = naive_stats(model)  # g == 0 is true for -0.0 too
    index = [n for n, _ in model.named_parameters()].index("0.weight_orig")
    assert expected["zero_frac"][index] == pytest.approx(0.5, abs=0.05)
    assert_close(_log_once(tmp_path / "run.jsonl", model)["zero_frac"], expected["zero_frac"])
    assert_close(_engine_stats(model, sync_free)["zero_frac"], expected["zero_frac"])
