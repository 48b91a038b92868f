"""The one-pass CPU kernel (gradtop.logger.onepass) equals the torch path and a float64
reference, on real models' gradients and on the entries that break naive kernels.

Both CPU paths run here: ``StatsEngine(cpu_kernel=True)`` (the default where numba is
installed; the dev extra installs it) and ``cpu_kernel=False`` (the torch path every
install has). max |g|, the counts and NaN/Inf are compared exactly; sums of squares
within float tolerance (the kernel accumulates in float64, the torch path's fp32 dot in
float32).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from gradtop.logger import onepass
from gradtop.logger.finalise import finalise
from gradtop.logger.layout import Row
from gradtop.logger.stats import StatsEngine
from tests.logger.logger_support import backward, mlp
from tests.model_zoo import GPT, LSTMLM, cnn
from tests.reference_support import naive_stats
from tests.support import assert_close, read_records, steps

pytest.importorskip("numba", reason="the kernel needs numba (pip install -e '.[dev]')")

EXACT = ("grad_max", "nonfinite", "zero_frac")


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records every call of the kernel entry point: True where the kernel answered."""
    calls: list[bool] = []
    real = onepass.measure

    def spy(grads: list[torch.Tensor], count_zeros: bool) -> onepass.OnePass | None:
        out = real(grads, count_zeros)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(onepass, "measure", spy)
    return calls


def _stats(params: list[torch.Tensor], kernel: bool, detail: bool = True) -> dict[str, list]:
    engine = StatsEngine(params, cpu_kernel=kernel)
    matrix = engine.partials(detail=detail).matrix.tolist()
    return finalise(matrix, engine.numels, None, detail=detail).stats


def _reference(params: list[torch.Tensor]) -> dict[str, list]:
    return naive_stats([(str(i), p) for i, p in enumerate(params)])


def _assert_matches(got: dict[str, list], want: dict[str, list], what: str) -> None:
    for name in ("grad_norm", "weight_norm"):
        assert_close(got[name], want[name], rel=1e-6, what=f"{what} {name}")
    for name in EXACT:
        for i, (a, e) in enumerate(zip(got[name], want[name], strict=True)):
            same = a == e or (isinstance(a, float) and math.isnan(a) and math.isnan(e))
            assert same, f"{what} {name}[{i}]: {a!r} != {e!r}"


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.Linear(64, 3))


def _vectors(model: nn.Module) -> torch.Tensor:
    out = model(torch.randn(6, 8))
    return nn.functional.cross_entropy(out, torch.randint(0, 3, (6,)))


def _images(model: nn.Module) -> torch.Tensor:
    out = model(torch.randn(4, 3, 8, 8))
    return nn.functional.cross_entropy(out, torch.randint(0, 10, (4,)))


def _tokens(model: nn.Module) -> torch.Tensor:
    idx = torch.randint(0, 64, (3, 9))
    out = model(idx[:, :-1])
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), idx[:, 1:].reshape(-1))


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], torch.Tensor]]] = {
    "mlp": (_mlp, _vectors),
    "cnn": (cnn, _images),
    "gpt": (GPT, _tokens),
    "lstm": (LSTMLM, _tokens),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_real_models_match_the_torch_path_and_the_reference(
    name: str, dtype: torch.dtype, kernel_calls: list[bool]
) -> None:
    make, loss = MODELS[name]
    torch.manual_seed(0)
    model = make().to(dtype)
    torch.set_default_dtype(dtype)  # the batches are made in the model's dtype
    try:
        loss(model).backward()
    finally:
        torch.set_default_dtype(torch.float32)
    params = list(model.parameters())
    want = _reference(params)
    fast = _stats(params, kernel=True)
    assert kernel_calls and all(kernel_calls), "the kernel did not measure this group"
    kernel_calls.clear()
    slow = _stats(params, kernel=False)
    assert not kernel_calls, "cpu_kernel=False still called the kernel"
    _assert_matches(fast, want, f"{name} kernel vs reference")
    _assert_matches(slow, want, f"{name} torch path vs reference")
    # Kernel and torch path agree with each other as tightly as fp32 allows.
    assert_close(fast["grad_norm"], slow["grad_norm"], rel=1e-6, what=name)


def _edge_tensors(dtype: torch.dtype) -> list[torch.Tensor]:
    """Entries at the ends and inside vector widths, where unrolled loops go wrong."""
    tiny = torch.finfo(dtype).smallest_normal
    sub = tiny / 2**10  # subnormal, still exactly representable
    ramp = torch.linspace(-3, 2, 1000, dtype=dtype)
    nan_first = ramp.clone()
    nan_first[0] = math.nan
    inf_last = ramp.clone()
    inf_last[-1] = -math.inf
    mixed = ramp.clone()
    mixed[[3, 17, 500]] = torch.tensor([math.nan, math.inf, -math.inf], dtype=dtype)
    zeros = torch.tensor([-0.0, 0.0, -0.0], dtype=dtype)
    signed = torch.tensor([-0.0, -5.0, 4.0, -0.0, 0.0], dtype=dtype)
    subnormal = torch.tensor([sub, -sub, 0.0, -0.0, sub * 3], dtype=dtype)
    negative_max = -torch.rand(37, dtype=dtype) - 7.0  # |min| wins over max
    one = torch.tensor([-2.5], dtype=dtype)
    strided = torch.arange(60, dtype=dtype).reshape(6, 10)[:, ::3] - 9.5  # not dense
    transposed = torch.randn(7, 5, dtype=dtype).t()
    channels_last = torch.randn(2, 3, 4, 5, dtype=dtype).to(memory_format=torch.channels_last)
    return [
        ramp,
        nan_first,
        inf_last,
        mixed,
        zeros,
        signed,
        subnormal,
        negative_max,
        one,
        strided,
        transposed,
        channels_last,
    ]


@pytest.mark.parametrize("detail", [True, False], ids=["detail", "plain"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_nonfinite_signed_zero_subnormal_and_strided_entries(
    dtype: torch.dtype, detail: bool, kernel_calls: list[bool]
) -> None:
    grads = _edge_tensors(dtype)
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    want = _reference(params)
    fast = _stats(params, kernel=True, detail=detail)
    assert kernel_calls == [True]
    slow = _stats(params, kernel=False, detail=detail)
    for got, what in ((fast, "kernel"), (slow, "torch path")):
        assert got["nonfinite"] == want["nonfinite"], what
        assert_close(got["grad_max"], want["grad_max"], rel=0, what=f"{what} grad_max")
        assert_close(got["grad_norm"], want["grad_norm"], rel=1e-6, what=f"{what} grad_norm")
        if detail:
            assert got["zero_frac"] == want["zero_frac"], what
        else:
            assert got["zero_frac"] == [None] * len(grads), what
    assert fast["nonfinite"][:4] == [0, 1, 1, 3]
    assert math.isnan(fast["grad_max"][1]) and fast["grad_max"][2] == math.inf
    assert fast["grad_max"][4] == 0.0 and math.copysign(1.0, fast["grad_max"][4]) == 1.0
    sub = torch.finfo(dtype).smallest_normal / 2**10
    assert fast["grad_max"][6] == 3 * sub  # subnormals are values, not zeros
    if dtype == torch.float32:  # fp32 squares of subnormals are normal float64 numbers
        # (the fp32 torch path's dot underflows them to 0)
        assert fast["grad_norm"][6] == pytest.approx(math.sqrt(11) * sub, rel=1e-12)


def test_the_kernel_reports_its_suspects_and_the_engine_counts_them() -> None:
    """A finite group is proven finite by the kernel's own results; a non-finite one
    is counted exactly by the torch fallback, tensor by tensor."""
    clean = [torch.randn(300), torch.randn(4, 4)]
    dirty = [torch.randn(300), torch.tensor([1.0, math.nan, math.inf, 2.0])]
    assert (one := onepass.measure(clean, count_zeros=False)) is not None
    assert one.suspects == 0 and one.nonzero is None
    assert (two := onepass.measure(dirty, count_zeros=True)) is not None
    assert two.suspects == 1 and two.nonzero is not None and two.nonzero.tolist() == [300, 4]
    engine = StatsEngine([torch.zeros_like(g, requires_grad=True) for g in dirty])
    for p, g in zip(engine.tensors, dirty, strict=True):
        p.grad = g
    rows = engine.partials().matrix
    assert rows[Row.GRAD_NONFINITE].tolist() == [0.0, 2.0] and engine.nonfinite_seen is True


def test_finite_fp32_above_the_fp32_square_range() -> None:
    """|g| = 1e20: the fp32 dot overflows and the torch path redoes it in float64; the
    kernel's float64 sum is right the first time, with no NaN/Inf reported."""
    g = torch.full((3,), 1e20)
    want = math.sqrt(3) * 1e20
    for kernel in (True, False):
        p = torch.zeros(3, requires_grad=True)
        p.grad = g
        stats = _stats([p], kernel=kernel)
        assert stats["nonfinite"] == [0] and stats["grad_norm"][0] == pytest.approx(want)


def test_fp64_sum_of_squares_overflow_is_redone_like_the_torch_path() -> None:
    """Finite fp64 entries whose squares overflow: the kernel flags the tensor and the
    engine finds no NaN/Inf in it, exactly as on the torch path."""
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([1e200, -1e200], dtype=torch.float64)
    fast, slow = _stats([p], kernel=True), _stats([p], kernel=False)
    assert fast["nonfinite"] == slow["nonfinite"] == [0]
    assert fast["grad_norm"] == slow["grad_norm"]
    assert fast["grad_max"] == slow["grad_max"] == [1e200]


def test_empty_and_unsupported_groups() -> None:
    """An empty list or an empty tensor is the kernel's; fp16/bf16 and sparse are not
    (the engine keeps its torch path for those)."""
    out = onepass.measure([torch.zeros(0), torch.ones(3)], count_zeros=True)
    assert out is not None
    assert out.sumsq.tolist() == [0.0, 3.0] and out.absmax.tolist() == [0.0, 1.0]
    assert out.nonzero is not None and out.nonzero.tolist() == [0, 3]
    assert onepass.measure([], count_zeros=False) is None
    for dtype in (torch.float16, torch.bfloat16):
        assert onepass.measure([torch.ones(4, dtype=dtype)], count_zeros=False) is None
    sparse = torch.sparse_coo_tensor([[0]], [1.0], (4,), check_invariants=True)
    assert onepass.measure([sparse], count_zeros=False) is None
    # Through the engine: an empty parameter and a half-precision group beside fp32.
    params = [torch.zeros(0, requires_grad=True), torch.zeros(5, requires_grad=True)]
    params.append(torch.zeros(4, dtype=torch.bfloat16, requires_grad=True))
    params[0].grad = torch.zeros(0)
    params[1].grad = torch.tensor([0.0, -0.0, 1.5, -2.0, 3e-39])
    params[2].grad = torch.tensor([1.0, -0.0, 2.0, -8.0], dtype=torch.bfloat16)
    assert _stats(params, kernel=True) == _stats(params, kernel=False)


def test_the_logger_uses_the_kernel_on_every_step_and_detail_step(
    tmp_path: Path, kernel_calls: list[bool]
) -> None:
    torch.manual_seed(0)
    model = _mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    path = tmp_path / "run.jsonl"
    expected = []
    with gradtop.Logger(path, model, optimizer=opt, detail_every=2) as log:
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            _vectors(model).backward()
            model[0].weight.grad[0, :5] = -0.0  # signed zeros count as zero
            expected.append(naive_stats(model))
            log.log(1.0)
            opt.step()
    assert kernel_calls == [True] * 4
    logged = steps(read_records(path))
    assert len(logged) == 4
    for i, (step, want) in enumerate(zip(logged, expected, strict=True)):
        assert_close(step.stats["grad_norm"], want["grad_norm"], rel=1e-6)
        assert step.stats["grad_max"] == want["grad_max"]
        assert step.stats["nonfinite"] == [0] * len(want["nonfinite"])
        if i % 2 == 0:  # detail steps: the zero count came from the same pass
            assert step.stats["zero_frac"] == want["zero_frac"]
            assert step.stats["zero_frac"][0] >= 5 / model[0].weight.numel()
        else:
            assert all(z is None for z in step.stats["zero_frac"])


def test_environment_switch_turns_the_kernel_off(tmp_path: Path) -> None:
    """GRADTOP_CPU_KERNEL=0: the kernel never loads, the torch path logs the same step."""
    script = (
        "import sys, torch, gradtop\n"
        "from gradtop.logger import onepass\n"
        "from tests.logger.logger_support import mlp, backward\n"
        "m = mlp(); backward(m)\n"
        "with gradtop.Logger(sys.argv[1], m) as log: log.log(0.5)\n"
        "assert onepass.load() is None, 'kernel loaded'\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
        "print(onepass.unavailable_reason())\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, onepass.ENV: "0"}
    path = tmp_path / "off.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert onepass.ENV in out.stdout
    (step,) = steps(read_records(path))
    model = mlp()
    backward(model)
    want = naive_stats(model)
    assert_close(step.stats["grad_norm"], want["grad_norm"], rel=1e-5)
    assert step.stats["grad_max"] == want["grad_max"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_the_update_snapshot_and_diff_match_the_torch_path_and_float64(
    name: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update tracker's kernels (copy + ||w||² in one read, ||Δw||² read-only) against
    its torch path and a float64 reference, over a real AdamW step of each model."""
    from gradtop.logger.update import UpdateTracker

    make, loss = MODELS[name]
    used: list[str] = []
    for fn in ("copy_sumsq", "diff_sumsq"):
        real = getattr(onepass, fn)

        def spy(a: list, b: list, _real: Callable = real, _fn: str = fn) -> torch.Tensor | None:
            out = _real(a, b)
            used.append(_fn if out is not None else f"{_fn}: declined")
            return out

        monkeypatch.setattr(onepass, fn, spy)
    rows = {}
    for kernel in (True, False):
        torch.manual_seed(0)
        model = make().to(dtype)
        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=1e-2)
        tracker = UpdateTracker(params, [True] * len(params), torch.device("cpu"), torch.float64)
        tracker.cpu_kernel = kernel
        torch.set_default_dtype(dtype)
        try:
            loss(model).backward()
        finally:
            torch.set_default_dtype(torch.float32)
        before = [p.detach().clone() for p in params]
        weight = tracker.snapshot()
        assert all(torch.equal(s, b) for s, b in zip(tracker._snap, before, strict=True))
        opt.step()
        delta = tracker.delta_sumsq()
        rows[kernel] = (weight, delta)
        want_w = [float(b.double().square().sum()) for b in before]
        want_d = [
            float((p.detach().double() - b.double()).square().sum())
            for p, b in zip(params, before, strict=True)
        ]
        assert_close(weight.tolist(), want_w, rel=1e-6, what=f"{name} kernel={kernel} ||w||²")
        assert_close(delta.tolist(), want_d, rel=1e-5, what=f"{name} kernel={kernel} ||Δw||²")
    assert used == ["copy_sumsq", "diff_sumsq"], "the kernel path did not run (or ran twice)"
    assert_close(rows[True][1].tolist(), rows[False][1].tolist(), rel=1e-5, what=name)


def test_the_update_kernels_decline_what_they_cannot_read() -> None:
    """A strided weight (a transposed view), mixed dtypes or fp16: None, the torch path."""
    a = torch.randn(6, 4)
    strided = torch.randn(4, 6).t()
    assert onepass.copy_sumsq([strided], [torch.empty_like(strided)]) is None
    assert onepass.diff_sumsq([a, a.double()], [a, a.double()]) is None
    half = a.half()
    assert onepass.diff_sumsq([half], [half]) is None
    assert onepass.copy_sumsq([], []) is None


def test_a_strided_weight_still_gets_its_update_ratio(tmp_path: Path) -> None:
    """A parameter stored transposed (as some checkpoints load): the torch path measures it."""
    torch.manual_seed(0)
    model = _mlp()
    model[2].weight = nn.Parameter(torch.randn(64, 64).t())
    assert not model[2].weight.is_contiguous()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "run.jsonl"
    with gradtop.Logger(path, model, optimizer=opt, detail_every=1) as log:
        names = [p.name for p in log.header.params]
        named = dict(model.named_parameters())
        _vectors(model).backward()
        before = {n: named[n].detach().clone() for n in names}
        log.log(1.0)
        opt.step()
    want = [float((named[n].detach() - before[n]).norm() / before[n].norm()) for n in names]
    (step,) = steps(read_records(path))
    assert_close(step.stats["update_ratio"], want, rel=1e-5, what="update_ratio")


def test_tensor_subclasses_take_the_torch_path() -> None:
    """A wrapper subclass has no storage of its own (``data_ptr()`` is 0): the kernels
    must not read it by address (they crashed the process), the torch path measures it."""
    two_tensor = pytest.importorskip("torch.testing._internal.two_tensor")
    from gradtop.logger.update import UpdateTracker

    a = torch.randn(4, 4)
    p = nn.Parameter(two_tensor.TwoTensor(a, a.clone()))
    assert onepass.measure([p], count_zeros=True) is None
    assert onepass.copy_sumsq([p], [torch.empty(4, 4)]) is None
    assert onepass.diff_sumsq([p], [p]) is None
    tracker = UpdateTracker([p], [True], torch.device("cpu"), torch.float32)
    assert torch.allclose(tracker.snapshot().float(), a.square().sum().reshape(1))
    assert float(tracker.delta_sumsq().float().sum()) == 0.0
