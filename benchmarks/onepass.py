"""The every-step statistics' own cost on CPU: one cold read, the torch path, the kernel.

After a real backward of the 12x512 MLP (batch 64; 3.2 M fp32 gradient entries in 26
tensors), on one thread, each repeat times one of these with ``time.thread_time`` (CPU
time of the training thread, robust to other jobs on the machine), the methods taking
turns after a fresh backward each so that every one finds the gradients where training
leaves them:

  cold read       a BLAS dot per tensor: the floor any statistic pays to read it once
  torch path      StatsEngine.partials(detail=False) with cpu_kernel=False (BLAS dot +
                  aminmax per tensor, the numbers before the kernel)
  kernel          StatsEngine.partials(detail=False): the one-pass kernel
  kernel call     gradtop.logger.onepass.measure alone (no packing)
  ... detail      the same with detail=True (zero count and weight norms as well)

    python benchmarks/onepass.py [--repeats 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from gradtop.logger import onepass
from gradtop.logger.stats import StatsEngine


def make_mlp() -> nn.Module:
    """The model of benchmarks/overhead.py: 12 hidden layers of 512, 10 classes."""
    layers: list[nn.Module] = [nn.Linear(512, 512), nn.ReLU()]
    for _ in range(11):
        layers += [nn.Linear(512, 512), nn.ReLU()]
    layers.append(nn.Linear(512, 10))
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = make_mlp()
    params = list(model.parameters())
    x, y = torch.randn(args.batch, 512), torch.randint(0, 10, (args.batch,))

    def backward() -> None:
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()

    backward()
    if onepass.load() is None:
        raise SystemExit(f"the kernel is not available: {onepass.unavailable_reason()}")
    fast, slow = StatsEngine(params), StatsEngine(params, cpu_kernel=False)

    def cold() -> None:
        for p in params:
            flat = p.grad.view(-1)
            torch.dot(flat, flat)

    methods: dict[str, Callable[[], object]] = {
        "cold read": cold,
        "torch path": lambda: slow.partials(detail=False),
        "kernel": lambda: fast.partials(detail=False),
        "kernel call": lambda: onepass.measure([p.grad for p in params], count_zeros=False),
        "torch path, detail": lambda: slow.partials(detail=True),
        "kernel, detail": lambda: fast.partials(detail=True),
    }
    for fn in methods.values():  # first calls: layouts, caches
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            backward()
            start = time.thread_time()
            fn()
            times[name].append(time.thread_time() - start)
    n = sum(p.numel() for p in params)
    print(
        f"12x512 MLP, batch {args.batch}: {n / 1e6:.2f} M fp32 gradient entries in "
        f"{len(params)} tensors; torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    print(f"thread time per call, median [IQR] of {args.repeats} repeats after a backward each")
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4, method="inclusive")
        ms = [v * 1e3 for v in (statistics.median(ts), q[0], q[2])]
        print(f"  {name:<20} {ms[0]:6.3f} ms [{ms[1]:.3f}-{ms[2]:.3f}]")


if __name__ == "__main__":
    main()
