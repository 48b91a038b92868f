"""How much does logging gradients cost a training step? gradtop against the usual ways.

For each model, every method trains its own copy (same seed, same data) and the
methods take turns in interleaved rounds, so that machine noise hits them alike; the
figure reported is the median over rounds of the mean step time within a round.

Methods (each only when its package is installed):
  none          plain training step
  gradtop       gradtop.Logger, every step, default settings (update ratio on,
                slow statistics every detail_every=10 logged steps)
  gradtop-all   gradtop.Logger(detail_every=1): every statistic on every step
  gradtop-noupd gradtop.Logger(update_ratio=False), every step
  gradtop-torch, gradtop-all-torch
                as gradtop and gradtop-all with the one-pass CPU kernels turned off
                (statistics, update snapshot and diff: the torch path, what an
                install without numba runs): the kernels' gain measured within one
                run, interleaved (opt in with --only)
  naive         for each parameter: p.grad.norm().item(), one JSON line per step
  foreach       all gradient norms in one torch._foreach_norm, one read back, one JSON
                line per step (the fast hand-written way; norms only)
  tensorboard   SummaryWriter.add_histogram of every gradient, every step
  wandb         wandb.watch(model, log="gradients", log_freq=1), offline

    python benchmarks/overhead.py            # full run (a few minutes on 2 cores)
    python benchmarks/overhead.py --quick    # smoke run
    python benchmarks/overhead.py --device cuda --models gpt   # ~134M-parameter GPT on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

import gradtop

Batch = tuple[torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------------------- models


def make_mlp() -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(12):
        layers += [nn.Linear(512, 512), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(512, 10))


class TinyTransformer(nn.Module):
    """4 layers, d=256, 4 heads, ff=1024: a small GPT-shaped encoder with a token head."""

    def __init__(
        self, vocab: int = 1000, d: int = 256, layers: int = 4, heads: int = 4, seq: int = 64
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, seq, d))
        block = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.embed(tokens) + self.pos[:, : tokens.shape[1]])
        return self.head(self.norm(h))


@dataclass(frozen=True)
class Workload:
    name: str
    make: Callable[[], nn.Module]
    batch: Callable[[torch.Generator], Batch]
    loss: Callable[[nn.Module, Batch], torch.Tensor]


GPT_SEQ = 256
GPT_VOCAB = 32_000


def make_gpt() -> nn.Module:
    """12 layers, d=768, 12 heads, 32k vocabulary: ~134M parameters (GPT-2 small-sized),
    the ">= 100M-parameter transformer" of the GPU target."""
    return TinyTransformer(vocab=GPT_VOCAB, d=768, layers=12, heads=12, seq=GPT_SEQ)


def workloads(mlp_batch: int, tf_batch: int, gpt_batch: int, device: str) -> list[Workload]:
    # Batches are drawn on the CPU (same generator, same data on any device), then moved.
    def mlp_batch_fn(gen: torch.Generator) -> Batch:
        x, y = torch.randn(mlp_batch, 512, generator=gen), torch.randint(0, 10, (mlp_batch,))
        return x.to(device), y.to(device)

    def tokens_fn(batch: int, seq: int, vocab: int) -> Callable[[torch.Generator], Batch]:
        def make(gen: torch.Generator) -> Batch:
            tokens = torch.randint(0, vocab, (batch, seq + 1), generator=gen).to(device)
            return tokens[:, :-1], tokens[:, 1:]

        return make

    def mlp_loss(model: nn.Module, b: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(model(b[0]), b[1])

    def tf_loss(model: nn.Module, b: Batch) -> torch.Tensor:
        logits = model(b[0])
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[1].reshape(-1))

    return [
        Workload(f"mlp-12x512 (batch {mlp_batch})", make_mlp, mlp_batch_fn, mlp_loss),
        Workload(
            f"transformer-4x256 (batch {tf_batch}x64)",
            TinyTransformer,
            tokens_fn(tf_batch, 64, 1000),
            tf_loss,
        ),
        Workload(
            f"gpt-12x768 (batch {gpt_batch}x{GPT_SEQ})",
            make_gpt,
            tokens_fn(gpt_batch, GPT_SEQ, GPT_VOCAB),
            tf_loss,
        ),
    ]


# ---------------------------------------------------------------------------- methods


class Method:
    """One way of logging; ``after_backward`` runs between backward and optimizer step."""

    name = "none"

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        self.model, self.opt, self.workdir = model, opt, workdir

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        pass

    def self_cost(self) -> float | None:
        """Seconds the method says it spent on the training thread so far, if it knows."""
        return None

    def close(self) -> None:
        pass


class Gradtop(Method):
    name = "gradtop"
    kwargs: ClassVar[dict[str, Any]] = {}
    cpu_kernel = True

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        super().__init__(model, opt, workdir)
        path = workdir / f"{self.name}.jsonl"
        self.log = gradtop.Logger(path, model, optimizer=opt, **self.kwargs)
        if not self.cpu_kernel:
            self.log._engine.cpu_kernel = False
            if self.log._tracker is not None:
                self.log._tracker.cpu_kernel = False

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        self.log.log(loss)

    def self_cost(self) -> float | None:
        return self.log.cost_s

    def close(self) -> None:
        self.log.close()


class GradtopAllDetail(Gradtop):
    name = "gradtop-all"
    kwargs: ClassVar[dict[str, Any]] = {"detail_every": 1}


class GradtopNoUpdate(Gradtop):
    name = "gradtop-noupd"
    kwargs: ClassVar[dict[str, Any]] = {"update_ratio": False}


class GradtopTorchPath(Gradtop):
    name = "gradtop-torch"
    cpu_kernel = False


class GradtopAllTorchPath(Gradtop):
    name = "gradtop-all-torch"
    kwargs: ClassVar[dict[str, Any]] = {"detail_every": 1}
    cpu_kernel = False


class Naive(Method):
    """What people write by hand: one .item() per parameter, one JSON line per step."""

    name = "naive"

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        super().__init__(model, opt, workdir)
        self.file = (workdir / "naive.jsonl").open("a")

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        norms = {
            n: p.grad.norm().item() for n, p in self.model.named_parameters() if p.grad is not None
        }
        self.file.write(json.dumps({"step": step, "loss": loss.item(), "norms": norms}) + "\n")

    def close(self) -> None:
        self.file.close()


class FusedNorms(Method):
    """The fast hand-written way: every gradient norm in one fused ``_foreach_norm``, read
    back in one transfer, one JSON line per step (norms only, one statistic)."""

    name = "foreach"

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        super().__init__(model, opt, workdir)
        self.file = (workdir / "foreach.jsonl").open("a")
        self.names = [n for n, _ in model.named_parameters()]
        self.params = list(model.parameters())

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        named = zip(self.names, self.params, strict=True)
        have = [(n, p.grad) for n, p in named if p.grad is not None]
        norms = torch.stack(torch._foreach_norm([g for _, g in have])).tolist() if have else []
        by_name = dict(zip([n for n, _ in have], norms, strict=True))
        row = {"step": step, "loss": loss.item(), "norms": by_name}
        self.file.write(json.dumps(row) + "\n")

    def close(self) -> None:
        self.file.close()


class TensorBoard(Method):
    name = "tensorboard"

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        super().__init__(model, opt, workdir)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(workdir / "tb"))

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        self.writer.add_scalar("loss", loss.item(), step)
        for n, p in self.model.named_parameters():
            if p.grad is not None:
                self.writer.add_histogram(f"grad/{n}", p.grad, step)

    def close(self) -> None:
        self.writer.close()


class Wandb(Method):
    name = "wandb"
    run: Any = None

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, workdir: Path) -> None:
        super().__init__(model, opt, workdir)
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        self.wandb = wandb
        Wandb.run = wandb.init(mode="offline", dir=str(workdir), project="gradtop-bench")
        wandb.watch(model, log="gradients", log_freq=1)

    def after_backward(self, step: int, loss: torch.Tensor) -> None:
        self.wandb.log({"loss": loss.item()}, step=step)

    def close(self) -> None:
        self.wandb.unwatch(self.model)
        if Wandb.run is not None:
            Wandb.run.finish(quiet=True)
            Wandb.run = None


def available_methods(skip: set[str]) -> list[type[Method]]:
    methods: list[type[Method]] = [
        Method,
        Gradtop,
        GradtopAllDetail,
        GradtopNoUpdate,
        Naive,
        FusedNorms,
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        methods.append(TensorBoard)
    if importlib.util.find_spec("wandb") is not None:
        methods.append(Wandb)
    return [m for m in methods if m.name not in skip]


# Run only when named in --only: comparisons of gradtop with itself.
OPT_IN: list[type[Method]] = [GradtopTorchPath, GradtopAllTorchPath]


# ---------------------------------------------------------------------------- timing


@dataclass
class Runner:
    method: Method
    batch: Callable[[torch.Generator], Batch]
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor]
    gen: torch.Generator
    clock: Callable[[], float] = time.perf_counter
    sync: Callable[[], None] = lambda: None  # torch.cuda.synchronize on a GPU
    step: int = 0
    last_self_cost: float | None = None

    def run(self, n: int) -> float:
        """Mean seconds per step over n steps (data generation excluded)."""
        batches = [self.batch(self.gen) for _ in range(n)]
        m = self.method
        clock = self.clock
        before = m.self_cost()
        self.sync()  # an asynchronous device: time whole steps, not kernel launches
        start = clock()
        for b in batches:
            self.step += 1
            m.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(m.model, b)
            loss.backward()
            m.after_backward(self.step, loss)
            m.opt.step()
        self.sync()
        elapsed = (clock() - start) / n
        after = m.self_cost()
        if before is not None and after is not None:
            self.last_self_cost = (after - before) / n
        return elapsed


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


@dataclass(frozen=True)
class Figures:
    """One workload's results: per method, the median round (and the spread of ratios)."""

    step: dict[str, float]  # median over rounds of the mean step time, seconds
    own: dict[str, float]  # median self-timed cost per step (gradtop only), seconds
    ratios: dict[str, list[float]]  # per round: mean step / the same round's "none"
    mean_ratio: dict[str, float]  # all rounds' time / all rounds' "none" time


def measure(
    work: Workload,
    methods: list[type[Method]],
    rounds: int,
    steps: int,
    clock: Callable[[], float] = time.perf_counter,
    *,
    device: str = "cpu",
    optimizer: str = "adamw",
) -> Figures:
    """Interleaved rounds; each method's ratio to no logging is taken *within* a round,
    so that load from other processes (which drifts between rounds) cancels out."""
    results: dict[str, list[float]] = {}
    own: dict[str, list[float]] = {}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="gradtop-bench-") as tmp:
        runners: list[Runner] = []
        for cls in methods:
            torch.manual_seed(0)
            model = work.make().to(device)
            opt = OPTIMIZERS[optimizer](model.parameters(), lr=1e-4)
            gen = torch.Generator().manual_seed(1)  # the same batches for every method
            method = cls(model, opt, Path(tmp))
            runners.append(Runner(method, work.batch, work.loss, gen, clock, sync))
        try:
            for r in runners:  # warm-up: allocator, first-call costs, gradtop layouts
                r.run(2)
            for i in range(rounds):
                order = runners[i % len(runners) :] + runners[: i % len(runners)]
                for r in order:
                    results.setdefault(r.method.name, []).append(r.run(steps))
                    if r.last_self_cost is not None:
                        own.setdefault(r.method.name, []).append(r.last_self_cost)
        finally:
            for r in runners:
                with contextlib.suppress(Exception):
                    r.method.close()
    medians = {name: statistics.median(times) for name, times in results.items()}
    base = results.get("none")
    ratios = {
        name: [t / b for t, b in zip(times, base, strict=True)] if base else []
        for name, times in results.items()
    }
    means = {name: sum(times) / sum(base) if base else math.nan for name, times in results.items()}
    return Figures(medians, {n: statistics.median(t) for n, t in own.items()}, ratios, means)


def spread(values: list[float]) -> str:
    """Median and interquartile range of per-round ratios, e.g. ``1.031 [1.02-1.04]``."""
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "-"
    q = statistics.quantiles(values, n=4, method="inclusive")
    return f"{statistics.median(values):.3f} [{q[0]:.3f}-{q[2]:.3f}]"


def machine() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = ""
    if torch.cuda.is_available():
        gpu = f", GPU {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}{gpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 2 steps")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5, help="steps per round and method")
    parser.add_argument("--mlp-batch", type=int, default=128)
    parser.add_argument("--tf-batch", type=int, default=16)
    parser.add_argument("--gpt-batch", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--skip", default="", help="comma-separated methods to leave out")
    parser.add_argument("--only", default="", help="comma-separated methods to run (and none)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adamw")
    parser.add_argument(
        "--models",
        default="mlp,transformer",
        help="which workloads to run: mlp, transformer, gpt (~134M parameters: for a GPU)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (what training feels); cpu: CPU time of this process, all "
        "threads (robust when other jobs share the machine; misses work done in other "
        "processes, e.g. wandb's service)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 2, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = available_methods(set(filter(None, args.skip.split(","))))
    only = set(filter(None, args.only.split(",")))
    if only:
        methods = [m for m in methods if m.name in only or m.name == "none"]
        methods += [m for m in OPT_IN if m.name in only]
    print(machine())
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(
        f"{args.rounds} interleaved rounds x {args.steps} steps per method; median round; "
        f"{args.clock} clock; {args.optimizer}\n"
    )
    chosen = set(args.models.split(","))
    for work in workloads(args.mlp_batch, args.tf_batch, args.gpt_batch, args.device):
        if work.name.split("-")[0] not in chosen:
            continue
        fig = measure(
            work,
            methods,
            args.rounds,
            args.steps,
            clock,
            device=args.device,
            optimizer=args.optimizer,
        )
        base = fig.step["none"]
        print(work.name)
        head = f"{'method':<17} {'step ms':>9} {'x none (median round [IQR])':>28}"
        print(f"  {head} {'x none, mean':>12} {'+ms/step':>9} {'self-timed, / none':>19}")
        for name, t in fig.step.items():
            # Self-timed share of the no-logging step: steadier than the wall ratios on a
            # loaded machine (it misses the writer thread and any cache effects).
            mine = (
                f"{fig.own[name] * 1e3:6.2f} ms {fig.own[name] / base:6.1%}"
                if name in fig.own
                else ""
            )
            ratio = spread(fig.ratios[name])
            mean = fig.mean_ratio[name]
            row = f"{t * 1e3:9.2f} {ratio:>28} {mean:12.3f} {(t - base) * 1e3:9.2f} {mine:>19}"
            print(f"  {name:<17} {row}")
        print()
    print("self-timed: wall time gradtop's training-thread code measured itself (log() and")
    print("the optimizer step hooks), per step; the writer thread is not included.")
    print("x none: per round, the method's mean step over the same round's no-logging step;")
    print("median over rounds and interquartile range; with --steps 1 each round is one step")
    print("per method, side by side in time (most robust on a loaded machine; the median")
    print("then leaves out the detail steps, which 'x none, mean' includes: total time over")
    print("all rounds / the no-logging total).")


if __name__ == "__main__":
    main()
