"""Write the JSONL fixtures the UI tests and snapshots read: ``python tests/data/make_fixtures.py``.

The numbers are shaped like real training (a healthy run, a deep sigmoid MLP whose first
layers starve, a run whose gradients blow up into Inf/NaN, hostile layer names) but come
from closed-form formulas: no random generator and no clock, so the files, and therefore
the snapshot SVGs drawn from them, are identical on every machine and every run.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from gradtop.records import PARAM_STATS, End, Header, ParamInfo, Step, encode_record

HERE = Path(__file__).resolve().parent
T0 = 1_700_000_000.0  # fixed "Unix time" of every run's start
DT = 0.1  # seconds between steps

# A gradient-norm function: (step, param index, param count) -> value (None = no grad).
NormFn = Callable[[int, int, int], float | None]


def wobble(step: int, i: int, amp: float = 0.15) -> float:
    """Deterministic multiplicative noise around 1."""
    return 1.0 + amp * math.sin(step * 1.37 + i * 0.71) * math.cos(step * 0.23 + i)


def mlp_params(depth: int, width: int = 64) -> tuple[ParamInfo, ...]:
    """Linear layers (weight + bias) with an activation between them, in depth order."""
    out: list[ParamInfo] = []
    for layer in range(depth):
        module = f"net.{2 * layer}"
        fan_in = 32 if layer == 0 else width
        fan_out = 10 if layer == depth - 1 else width
        out.append(
            ParamInfo(
                f"{module}.weight",
                module,
                "Linear",
                "weight",
                (fan_out, fan_in),
                fan_out * fan_in,
                True,
                True,
            )
        )
        out.append(
            ParamInfo(f"{module}.bias", module, "Linear", "bias", (fan_out,), fan_out, True, True)
        )
    return tuple(out)


def header(
    run_id: str,
    params: tuple[ParamInfo, ...],
    *,
    model: str,
    activations: tuple[str, ...],
    hist_edges: tuple[float, ...] | None = None,
    start: float = T0,
) -> Header:
    total = sum(p.numel for p in params)
    return Header(
        run_id=run_id,
        time=start,
        params=params,
        host="fixture-host",
        pid=4242,
        model=model,
        total_params=total,
        trainable_params=sum(p.numel for p in params if p.requires_grad),
        activations=activations,
        optimizer="SGD",
        hist_edges=hist_edges,
    )


def steps(
    head: Header,
    n_steps: int,
    grad_norm: NormFn,
    loss: Callable[[int], float],
    *,
    lr: float = 0.1,
    zero_frac: Callable[[int, int], float] = lambda s, i: 0.0,
    hist: Callable[[int, float | None], list[int] | None] | None = None,
) -> Iterator[Step]:
    n = len(head.params)
    for s in range(1, n_steps + 1):
        g = [grad_norm(s, i, n) for i in range(n)]
        weight: list[float | None] = [2.0 + 0.5 * math.log1p(i) + 1e-3 * s for i in range(n)]
        finite = [v for v in g if v is not None and math.isfinite(v)]
        total = math.sqrt(sum(v * v for v in finite)) if len(finite) == len(g) else math.inf
        if any(v is not None and math.isnan(v) for v in g):
            total = math.nan
        stats: dict[str, list[float | None]] = {
            "grad_norm": g,
            "grad_max": [None if v is None else v / 4 for v in g],
            "weight_norm": weight,
            "nonfinite": [None if v is None else (0.0 if math.isfinite(v) else 8.0) for v in g],
            "zero_frac": [None if g[i] is None else zero_frac(s, i) for i in range(n)],
            "update_ratio": [
                None if s == 1 or v is None else lr * v / w for v, w in zip(g, weight, strict=True)
            ],
        }
        yield Step(
            run_id=head.run_id,
            seq=s,
            step=s,
            time=head.time + s * DT,
            loss=rounded(loss(s)),
            lr=[lr],
            total_grad_norm=rounded(total),
            step_time=DT,
            stats={k: [rounded(v) for v in stats[k]] for k in PARAM_STATS},
            hist=None if hist is None else [hist(s, v) for v in g],
        )


def rounded(value: float | None) -> float | None:
    """Four significant digits: keeps the fixtures small and their text stable."""
    return value if value is None or not math.isfinite(value) else float(f"{value:.4g}")


# What a fixture is made of: records, and raw bytes written as they are (a garbage line, a
# byte-order mark) where a file must hold what no Logger writes.
Item = Header | Step | End | bytes


def write(path: Path, records: list[Item]) -> None:
    with path.open("wb") as f:
        for r in records:
            f.write(r if isinstance(r, bytes) else encode_record(r.to_json()))


# ---------------------------------------------------------------------------- the runs


def healthy_run(run_id: str = "healthy-0001", start: float = T0) -> list[Header | Step | End]:
    """Norms of the same order at every depth, loss going down: nothing to report."""
    edges = tuple(float(e) for e in range(-10, 3))  # log10 |g| from 1e-10 to 1e2

    def hist(s: int, g: float | None) -> list[int] | None:
        if g is None:
            return None
        centre = math.log10(g / 40)  # entries are smaller than the norm
        return [int(400 * math.exp(-((e + 0.5 - centre) ** 2))) for e in edges[:-1]]

    head = header(run_id, mlp_params(6), model="MLP", activations=("ReLU",), hist_edges=edges)
    return [
        head,
        *steps(
            head,
            200,
            lambda s, i, n: 0.05 * wobble(s, i) * (1 + 0.3 * (i % 2)),
            lambda s: 0.2 + 2.1 * math.exp(-s / 40) * wobble(s, 0, 0.05),
            hist=hist,
        ),
    ]


def vanishing_run() -> list[Header | Step | End]:
    """A 10-layer sigmoid MLP: each layer back loses ~x0.25, the first layers get ~1e-8."""
    head = header(
        "vanishing-0002", mlp_params(10), model="DeepSigmoidMLP", activations=("Sigmoid",)
    )

    def norm(s: int, i: int, n: int) -> float:
        depth_from_top = (n - 1 - i) // 2
        return 0.08 * (0.15**depth_from_top) * wobble(s, i)

    return [head, *steps(head, 200, norm, lambda s: 2.30 - 0.02 * math.log1p(s) * wobble(s, 1))]


def exploding_run() -> list[Header | Step | End]:
    """LR far too high: norms grow ~6 % per step until they overflow to Inf, then NaN."""
    head = header("exploding-0003", mlp_params(6), model="MLP", activations=("ReLU",))

    def norm(s: int, i: int, n: int) -> float:
        if s > 185:
            return math.nan
        value = 0.5 * (1.06**s) * wobble(s, i) * (1 + i / n)
        return math.inf if s > 180 and i >= n - 4 else value

    def loss(s: int) -> float:
        return math.nan if s > 185 else 2.3 * (1.02**s)

    recs: list[Header | Step | End] = [head, *steps(head, 190, norm, loss, lr=3.0)]
    recs.append(End(head.run_id, seq=191, time=T0 + 191 * DT, steps=190, reason="exception"))
    return recs


HOSTILE_NAMES = (
    "\x1b]0;pwn\x07[bold]x[/]",  # OSC title injection + Rich markup
    "layers.0.attn[/]",  # unbalanced markup closer
    "\x1b[31mred\x1b[0m.weight",  # SGR colour codes
    "evil\u202etxt.exe",  # bidi override
    "wide.層.重み",  # double-width characters
    "x" * 300,  # far too long
    "nul\x00del\x7fc1\x9b.bias",  # NUL, DEL and a C1 CSI
    "[link=https://example.com]click[/link]",
    # A name the Logger cannot write as UTF-8 (add_module accepts a lone surrogate): the
    # Logger's encoder writes it as its backslash escape, and so does this fixture.
    "lone\ud800surrogate.weight",
    # Invisible characters: each of these looks like "net.0.weight" on a raw screen.
    "net.0.weight",
    "net.0\u200b.weight",  # zero-width space
    "net.0\u200c\u200d.weight",  # zero-width non-joiner and joiner
    "net\u2060.0.weight\ufeff",  # word joiner, byte-order mark
    "net.0.weight\U000e0001",  # a tag character (the U+E0000 block)
    "net.0\u2028.weight\u2029",  # line and paragraph separators
)
# Raw lines of the hostile file: it starts with a UTF-8 byte-order mark (an editor saved
# it), and one garbage line holds a NUL byte and bytes that are not UTF-8: skipped, and
# counted once.
BOM = b"\xef\xbb\xbf"
GARBAGE_LINE = b"garbage\x00line \xff\xfe\xc3( not utf-8\n"


def hostile_run() -> list[Item]:
    """Names an attacker (or an unlucky model) could put in a file: shown literally, inert."""
    params = tuple(
        ParamInfo(name, name.rsplit(".", 1)[0], "[red]Linear", "weight", (8, 8), 64, True, True)
        for name in HOSTILE_NAMES
    )
    head = Header(
        run_id="\x1b[2J[blink]run[/blink]",
        time=T0,
        params=params,
        host="\x1b]8;;http://x\x07host",
        model="\x1b[31m[bold red]Model[/]",
        total_params=64 * len(params),
        trainable_params=64 * len(params),
        activations=("ReLU",),
        optimizer="SGD",
    )
    run = list(
        steps(
            head,
            60,
            lambda s, i, n: 0.02 * wobble(s, i) * (1e-7 if i == 0 else 1.0),
            lambda s: 1.0 / s,
        )
    )
    return [BOM, head, *run[:30], GARBAGE_LINE, *run[30:]]


FIXTURES: dict[str, Callable[[], list[Item]]] = {
    "healthy.jsonl": healthy_run,
    "vanishing.jsonl": vanishing_run,
    "exploding.jsonl": exploding_run,
    # The same run while it is still growing, before any Inf/NaN: what a user attached to
    # a live job sees in time to stop it (the table's EXPLODE status, not NaN/Inf).
    "exploding_live.jsonl": lambda: [
        r
        for r in exploding_run()
        if isinstance(r, Header) or (isinstance(r, Step) and r.step <= 150)
    ],
    "hostile.jsonl": hostile_run,
    # Two runs appended to one file: the second (newest) is shown first, the first can be picked.
    "two_runs.jsonl": lambda: [*vanishing_run(), *healthy_run("healthy-0005", T0 + 100)],
}


def main(out_dir: Path = HERE) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in FIXTURES.items():
        write(out_dir / name, make())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
