"""What the rules see: parameter roles from the header and numpy arrays of recent rows.

Roles follow research/diagnosis.md §6: depth and ratio rules use trainable weight
matrices only (ndim >= 2), never biases, norm gains or embeddings, whose norms are
naturally tiny or whose rows legitimately get zero gradient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gradtop.diagnosis.series import hold_last
from gradtop.diagnosis.thresholds import Thresholds
from gradtop.history import (
    GRADS_STALE,
    LOSS,
    LOSS_SCALE,
    LR,
    STEP_GRAD_NORM,
    TOTAL_GRAD_NORM,
    RunHistory,
    Table,
)
from gradtop.records import Header, ParamInfo

SATURATING = ("Sigmoid", "Tanh", "Softsign", "Hardtanh", "Hardsigmoid", "LogSigmoid")
RECURRENT = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
_EMBEDDING = re.compile(r"embed", re.IGNORECASE)
_ADAPTIVE = re.compile(r"adam|adagrad|adadelta|rmsprop|lamb|adafactor|lion", re.IGNORECASE)


@dataclass(frozen=True)
class Layer:
    """A module that owns trainable weight matrices (one depth position)."""

    module: str
    module_type: str
    weights: tuple[int, ...]  # its weight-matrix parameter indices
    numel: int


@dataclass(frozen=True)
class DeadGather:
    """Column gathers for the dead-unit rule (see ``rules.health._zero_fractions``)."""

    with_mats: np.ndarray  # groups that own weight matrices
    mat_order: np.ndarray  # their matrices' columns, group by group
    mat_bounds: np.ndarray  # each group's first position in mat_order
    bias: np.ndarray  # each group's bias column, -1 when it has none
    member_order: np.ndarray  # every member column (bias first), group by group
    member_bounds: np.ndarray

    @classmethod
    def of(cls, groups: tuple[tuple[str, int | None, tuple[int, ...]], ...]) -> DeadGather:
        with_mats = [j for j, g in enumerate(groups) if g[2]]
        members = [[*([] if g[1] is None else [g[1]]), *g[2]] for g in groups]
        return cls(
            with_mats=np.array(with_mats, dtype=np.int64),
            mat_order=np.array([i for j in with_mats for i in groups[j][2]], dtype=np.int64),
            mat_bounds=_starts([len(groups[j][2]) for j in with_mats]),
            bias=np.array([-1 if g[1] is None else g[1] for g in groups], dtype=np.int64),
            member_order=np.array([i for m in members for i in m], dtype=np.int64),
            member_bounds=_starts([len(m) for m in members]),
        )


def _starts(sizes: list[int]) -> np.ndarray:
    return np.cumsum([0, *sizes[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)


@dataclass(frozen=True)
class Roles:
    """Per-run facts derived once from the header."""

    names: tuple[str, ...]
    trainable: np.ndarray  # requires_grad
    frozen: tuple[int, ...]
    not_in_optimizer: tuple[int, ...]  # trainable but the optimizer does not hold it
    weight: np.ndarray  # trainable weight matrices the depth/ratio rules use
    numel: np.ndarray
    layers: tuple[Layer, ...]
    dead_groups: tuple[tuple[str, int | None, tuple[int, ...]], ...]  # module, bias, weights
    activations: frozenset[str]
    norms: frozenset[str]
    module_types: frozenset[str]
    optimizer: str
    adaptive: bool
    recurrent: bool
    eps: float
    # Precomputed gathers: weight-matrix columns in layer order and each layer's first
    # position in it (for np.add.reduceat), so a big model costs no Python loops per call.
    layer_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    layer_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    layer_numel: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dead_gather: DeadGather | None = None
    # What the model and the run already have (header format 1.2; older files: the
    # defaults, "not known"), so that a fix never proposes adding it.
    attention: bool = False
    residual: bool | None = None  # skip connections seen (True) or not known (None)
    tied: tuple[tuple[str, ...], ...] = ()
    precision: str = ""  # "fp32", "fp16", "bf16", "mixed"; "" when not known
    clip_max_norm: float | None = None  # clipping a trainer framework applies

    @property
    def saturating(self) -> tuple[str, ...]:
        """Saturating units that shape the gradient flow. In a transformer whose blocks
        use a non-saturating unit (BERT: GELU), a Tanh in the pooler or a sigmoid gate
        does not, and blaming it would send the user to the wrong layer."""
        found = tuple(a for a in SATURATING if a in self.activations)
        if found and self.attention and any(a not in SATURATING for a in self.activations):
            return ()
        return found

    @property
    def norm_families(self) -> frozenset[str]:
        """What the model normalises over ("batch", "layer": LayerNorm or RMSNorm, "group",
        "instance"), which is what decides whether another norm would help."""
        families = (
            ("BatchNorm", "batch"),
            ("LayerNorm", "layer"),
            ("RMSNorm", "layer"),
            ("GroupNorm", "group"),
            ("InstanceNorm", "instance"),
        )
        return frozenset(f for n in self.norms for token, f in families if token in n)

    @property
    def has_residual(self) -> bool:
        """Skip connections seen, or attention (every transformer block adds its input)."""
        return self.residual is True or self.attention

    def layer_names(self, layers: list[Layer] | tuple[Layer, ...]) -> str:
        return _short_list([layer.module or "(root)" for layer in layers])

    def param_names(self, idx: tuple[int, ...] | list[int]) -> str:
        return _short_list([self.names[i] for i in idx])


def _short_list(items: list[str], keep: int = 4) -> str:
    if len(items) <= keep:
        return ", ".join(items)
    return f"{', '.join(items[: keep - 1])}, … {items[-1]} ({len(items)} in all)"


def _is_embedding(module_type: str, name: str) -> bool:
    return "Embedding" in module_type or bool(_EMBEDDING.search(name))


def roles_for(
    header: Header, thresholds: Thresholds, params: tuple[ParamInfo, ...] | None = None
) -> Roles:
    """The roles of a run's parameters: the header's, or ``params`` where the steps
    changed them since (``RunHistory.params``: layers unfrozen or added mid-run)."""
    params = header.params if params is None else params
    n = len(params)
    trainable = np.array([p.requires_grad for p in params], dtype=bool)
    emb = np.array([_is_embedding(p.module_type, p.name) for p in params], dtype=bool)
    norm = np.array(["Norm" in p.module_type for p in params], dtype=bool)
    weight = np.array([p.ndim >= 2 for p in params], dtype=bool) & trainable & ~emb & ~norm
    by_module: dict[str, list[int]] = {}
    for i in np.flatnonzero(weight):
        by_module.setdefault(params[i].module, []).append(int(i))
    layers = tuple(
        Layer(m, params[idx[0]].module_type, tuple(idx), sum(params[i].numel for i in idx))
        for m, idx in by_module.items()
    )
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(params):
        if p.requires_grad and not emb[i] and not norm[i]:
            groups.setdefault(p.module, []).append(i)
    dead_groups = []
    for module, idx in groups.items():
        bias = next((i for i in idx if params[i].ndim == 1 and params[i].param == "bias"), None)
        mats = tuple(i for i in idx if params[i].ndim >= 2)
        if bias is not None or mats:
            dead_groups.append((module, bias, mats))
    meta_eps = header.meta.get("eps") if isinstance(header.meta, dict) else None
    sizes = [len(layer.weights) for layer in layers]
    optimizer = header.optimizer or ""
    module_types = frozenset(p.module_type for p in params)
    # A header older than 1.2 lists only torch.nn norms; a norm class of the model's own
    # (nanoGPT's LayerNorm, LlamaRMSNorm) still shows as the type owning its gain.
    own_norms = {t for t in module_types if re.search(r"LayerNorm|RMSNorm|BatchNorm|GroupNorm", t)}
    return Roles(
        names=tuple(p.name for p in params),
        trainable=trainable,
        frozen=tuple(i for i in range(n) if not params[i].requires_grad),
        not_in_optimizer=tuple(
            i for i in range(n) if params[i].requires_grad and params[i].in_optimizer is False
        ),
        weight=weight,
        numel=np.array([max(1, p.numel) for p in params], dtype=np.float64),
        layers=layers,
        dead_groups=tuple(dead_groups),
        activations=frozenset(header.activations),
        norms=frozenset(header.norms) | own_norms,
        module_types=module_types,
        optimizer=optimizer,
        adaptive=bool(_ADAPTIVE.search(optimizer)),
        recurrent=any(p.module_type in RECURRENT for p in params),
        eps=float(meta_eps)
        if isinstance(meta_eps, int | float) and meta_eps > 0
        else (thresholds.adam_eps),
        layer_order=np.array([i for layer in layers for i in layer.weights], dtype=np.int64),
        layer_bounds=np.cumsum([0, *sizes[:-1]]).astype(np.int64) if sizes else np.zeros(0, int),
        layer_numel=np.array([layer.numel for layer in layers], dtype=np.float64),
        dead_gather=DeadGather.of(tuple(dead_groups)),
        attention=header.attention or any("Attention" in t for t in module_types),
        residual=header.residual,
        tied=header.tied,
        precision=header.precision,
        clip_max_norm=header.clip_max_norm,
    )


@dataclass
class Memory:
    """Running aggregates of rows already evaluated, so rules see beyond the window."""

    rows: int = 0  # rows (logged steps) of the run already evaluated
    initial_loss: float = np.nan  # the run's first finite loss
    best_loss: float = np.nan  # lowest smoothed loss
    max_loss: float = np.nan  # highest raw finite loss
    max_lr: float = np.nan
    # log10 gradient norm of each parameter over the first ``reference_steps`` rows
    # (median), and each parameter's first measured weight norm: baselines that a
    # layer's growth or shrinkage is judged against, which outlive the window.
    clipped: bool = False  # a step norm below the logged one was seen: the run clips
    param_ref: np.ndarray | None = None
    weight_ref: np.ndarray | None = None
    first_row_huge: bool | None = None  # was the very first logged step already exploding?
    # log10 total grad norm of the first ``reference_steps`` rows seen (NaN kept, in row
    # order from ``norm_row0``): the run's reference level, which outlives the window.
    first_norms: list[float] = field(default_factory=list)
    norm_row0: int | None = None  # global row of first_norms[0]
    amp_calibrated: bool = False  # a clean AMP step was seen (initial scale search is over)
    # (reference rows, median of each prefix of them): what reference_norm_log last
    # computed, a cache only (never read as a finding's input beyond those medians).
    ref_prefix: tuple[list[float], np.ndarray] = field(
        default_factory=lambda: ([], np.full(1, np.nan))
    )


@dataclass
class View:
    """Arrays of the newest ``window`` rows, oldest first; rows ``new_from:`` are unseen."""

    run: RunHistory
    roles: Roles
    th: Thresholds
    mem: Memory
    steps: np.ndarray
    row0: int  # global row index (0 = the run's first logged step) of steps[0]
    new_from: int
    grad: np.ndarray  # [T, P] grad_norm, NaN where missing
    grad_missing: np.ndarray  # [T, P] bool
    stats: dict[str, np.ndarray]
    loss: np.ndarray
    loss_known: np.ndarray  # a loss was logged (NaN in ``loss`` may then mean NaN loss)
    lr: np.ndarray
    total: np.ndarray
    scale: np.ndarray
    # What reached optimizer.step() (NaN: no step seen, or an older logger) and whether
    # the step's gradients were never cleared (1.0), cleared (0.0) or unknown (NaN).
    step_norm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Rows whose slow statistics were measured (detail steps; every row with
    # detail_every=1); the rows in between hold the last measurement.
    detail: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    p_start: int = 0  # per-parameter arrays hold data from this row on (NaN before)
    # Missing-value masks of statistics that may be null on a row (weight_norm: between
    # detail steps), so that NaN there is not read as a NaN weight.
    missing: dict[str, np.ndarray] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.steps.shape[0])

    def start(self, margin: int) -> int:
        """First row an expensive per-row series must cover: the unseen rows plus the
        ``margin`` rows of history their persistence or counting looks back over."""
        return max(0, self.new_from - max(0, margin))

    def row_index(self) -> np.ndarray:
        """Global row index (position in the run) of each window row."""
        return self.row0 + np.arange(self.n)

    def stat(self, name: str) -> np.ndarray | None:
        return self.stats.get(name)

    def upto(self, row: int) -> View:
        """This view as an evaluation ending at window row ``row`` would have seen it.

        Rules are causal and the unseen rows keep their look-back margin, so a rule run on
        it says what a viewer evaluating at that row would have been told.
        """

        def cut(a: np.ndarray) -> np.ndarray:
            return a[: row + 1] if a.ndim and a.shape[0] == self.n else a

        return replace(
            self,
            steps=cut(self.steps),
            new_from=min(self.new_from, row + 1),
            grad=cut(self.grad),
            grad_missing=cut(self.grad_missing),
            stats={name: cut(a) for name, a in self.stats.items()},
            loss=cut(self.loss),
            loss_known=cut(self.loss_known),
            lr=cut(self.lr),
            total=cut(self.total),
            scale=cut(self.scale),
            step_norm=cut(self.step_norm),
            stale=cut(self.stale),
            detail=cut(self.detail),
            missing={name: cut(a) for name, a in self.missing.items()},
            cache={},
        )

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """Share a derived series between rules within one evaluation."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


def _aligned(
    table: Table | None, steps: np.ndarray, total_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """A scalar series on the rows of the per-parameter tables: (values, logged mask).

    NaN in ``values`` is either a logged NaN or a missing value; the mask tells which.
    """
    n = len(steps)
    out = np.full(n, np.nan)
    known = np.zeros(n, dtype=bool)
    if table is None:
        return out, known
    t_steps, t_values = table.recent(n)
    values = t_values[:, 0]
    t_known = ~table.recent_missing(n)[:, 0]
    if table.total_rows == total_rows and len(values) == n:
        return values.copy(), t_known
    if n and len(t_steps) and np.all(np.diff(steps) >= 0) and np.all(np.diff(t_steps) >= 0):
        pos = np.searchsorted(t_steps, steps, side="right") - 1
        ok = (pos >= 0) & (t_steps[np.clip(pos, 0, None)] == steps)
        out[ok] = values[pos[ok]]
        known[ok] = t_known[pos[ok]]
    else:
        k = min(n, len(values))
        out[n - k :] = values[len(values) - k :]
        known[n - k :] = t_known[len(values) - k :]
    return out, known


# Per-parameter statistics the rules read (grad_max is drawn by the UI, not diagnosed).
_DIAGNOSED_STATS = ("grad_norm", "weight_norm", "nonfinite", "zero_frac", "update_ratio")
# Measured only on detail steps (header ``detail_every`` > 1): held in between.
_HELD_STATS = ("zero_frac", "update_ratio")


def param_margin(th: Thresholds) -> int:
    """Rows of per-parameter history the rules look back over from the unseen rows."""
    return 2 + max(
        th.vanishing_persist,
        th.exploding_persist,
        th.dead_persist + 1,
        th.lr_persist + 1,
        th.no_grad_persist,
        th.amp_window,
    )


def look_back(th: Thresholds) -> int:
    """Rows before an unseen row that the rules read to give it its level (the longest
    of their windows): a replay keeps every row's level as an update per row would give
    it while ``window`` - this rows or fewer are new."""
    return max(th.spike_window, th.plateau_window, th.lr_window, param_margin(th))


def _suffix(table: Table, n: int, rows: int, missing: bool = False) -> np.ndarray:
    """The newest ``rows`` of ``table`` placed at the end of an ``n``-row array.

    Copying the newest rows only matters for big models: a live viewer re-evaluates
    every few steps and only needs the new rows plus their persistence margin.
    """
    if missing:  # rows not copied count as missing: no rule may read them as data
        out = np.ones((n, table.n_cols), dtype=bool)
        out[n - rows :] = table.recent_missing(rows)
        return out
    if rows == n:
        return table.recent(n)[1]
    out = np.full((n, table.n_cols), np.nan)
    out[n - rows :] = table.recent(rows)[1]
    return out


def build_view(run: RunHistory, roles: Roles, th: Thresholds, mem: Memory) -> View | None:
    """The window the rules evaluate, or None when the run has no per-parameter rows yet.

    Scalars (loss, lr, total norm) cover the whole window; per-parameter statistics only
    the rows the rules will consume (NaN before), which keeps a re-evaluation cheap.
    """
    base = run.stats.get("grad_norm") or next(iter(run.stats.values()), None)
    if base is None or base.total_rows == 0:
        return None
    steps = base.recent_steps(th.window)
    n = len(steps)
    total_rows = base.total_rows
    row0 = total_rows - n
    new_from = max(0, min(n, mem.rows - row0))
    total, total_known = _aligned(run.scalars.get(TOTAL_GRAD_NORM), steps, total_rows)
    # Statistics logged only every detail_every-th row are held for up to that many
    # rows, so the rows loaded must reach back to the detail row before the margin.
    hold = run.header.detail_every if run.header.detail_every > 1 else 0
    # Without a logged total norm it is rebuilt from every row's parameter norms.
    p_rows = n if not np.any(total_known) else n - max(0, new_from - param_margin(th) - hold)
    stats = {
        name: _suffix(table, n, p_rows)
        for name, table in run.stats.items()
        if name in _DIAGNOSED_STATS and table.total_rows == total_rows
    }
    missing_masks = {}
    if "weight_norm" in stats:
        missing_masks["weight_norm"] = _suffix(run.stats["weight_norm"], n, p_rows, missing=True)
    detail = _detail_rows(stats, missing_masks.get("weight_norm"), n)
    detail[: n - p_rows] = False
    if hold:
        _hold_detail_stats(stats, missing_masks.get("weight_norm"), hold)
    n_params = len(run.header.params)
    if "grad_norm" in stats:
        grad = stats["grad_norm"]
        missing = _suffix(run.stats["grad_norm"], n, p_rows, missing=True)
    else:
        grad = np.full((n, n_params), np.nan)
        missing = np.zeros((n, n_params), dtype=bool)
    if not np.any(total_known) and "grad_norm" in stats:
        with np.errstate(invalid="ignore", over="ignore"):
            total = np.sqrt(np.nansum(np.square(grad), axis=1))
        total[np.all(missing, axis=1)] = np.nan
    loss, loss_known = _aligned(run.scalars.get(LOSS), steps, total_rows)
    return View(
        run=run,
        roles=roles,
        th=th,
        mem=mem,
        steps=steps,
        row0=row0,
        new_from=new_from,
        grad=grad,
        grad_missing=missing,
        stats=stats,
        loss=loss,
        loss_known=loss_known,
        lr=_aligned(run.scalars.get(LR), steps, total_rows)[0],
        total=total,
        scale=_aligned(run.scalars.get(LOSS_SCALE), steps, total_rows)[0],
        step_norm=_aligned(run.scalars.get(STEP_GRAD_NORM), steps, total_rows)[0],
        stale=_aligned(run.scalars.get(GRADS_STALE), steps, total_rows)[0],
        detail=detail,
        p_start=n - p_rows,
        missing=missing_masks,
    )


def _detail_rows(stats: dict[str, np.ndarray], w_missing: np.ndarray | None, n: int) -> np.ndarray:
    """Rows whose weight norms (else update ratios) were measured, before any hold."""
    if w_missing is not None:
        return ~np.all(w_missing, axis=1)
    update = stats.get("update_ratio")
    if update is not None:
        return np.any(np.isfinite(update), axis=1)
    return np.zeros(n, dtype=bool)


def _hold_detail_stats(
    stats: dict[str, np.ndarray], w_missing: np.ndarray | None, hold: int
) -> None:
    """Sample-and-hold the detail-step statistics across the rows in between.

    A detail row is one whose weight norms were measured (weight_norm is null only
    between detail steps); without weight norms, a row where the statistic is all NaN.
    """
    measured = None if w_missing is None else ~np.all(w_missing, axis=1)
    for name in _HELD_STATS:
        values = stats.get(name)
        if values is None:
            continue
        fill = ~measured if measured is not None else np.all(np.isnan(values), axis=1)
        stats[name] = hold_last(values, fill, hold)
