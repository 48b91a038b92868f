"""What the header says about the model: its parameter list in depth order, and context.

The viewer cannot import torch, so everything it needs to name layers, order them by
depth and make fixes specific ("your model uses Sigmoid: try ReLU/GELU") is captured
here once, at construction, and written into the header record.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gradtop.logger.model_facts import (
    class_facts,
    functional_activation,
    precision_of,
)
from gradtop.logger.parallel import is_fsdp2, module_type_name
from gradtop.records import ParamInfo


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The parameter list (depth order) and the tensors it names, kept aligned."""

    params: tuple[ParamInfo, ...]
    tensors: tuple[nn.Parameter, ...]
    model: str
    total_params: int
    trainable_params: int
    activations: tuple[str, ...]
    norms: tuple[str, ...]
    # What the model already has, so that fixes never suggest adding it (header 1.2).
    attention: bool = False
    residual: bool | None = None  # True: skip connections seen; None: not known
    tied: tuple[tuple[str, ...], ...] = ()  # names of parameters sharing one tensor
    precision: str = ""  # storage dtype of the trainable weights ("fp32", "mixed", ...)


def unwrap(model: nn.Module) -> nn.Module:
    """Strip torch.compile and DDP wrappers so names read ``layers.0.weight``."""
    inner = getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule
    module = getattr(inner, "module", None)
    if isinstance(module, nn.Module) and type(inner).__name__ in (
        "DistributedDataParallel",
        "DataParallel",
    ):
        inner = module
    return inner if isinstance(inner, nn.Module) else model


def describe(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> ModelInfo:
    """List parameters in module registration order, each once (tied weights: first use).

    Registration order is the closest cheap proxy for depth that needs no forward pass:
    ``named_modules`` walks children in the order ``__init__`` created them. The facts
    (norms, activations, attention, skip connections) come from each module's class,
    read once per class (gradtop.logger.model_facts), so a 1000-block model costs a few
    source reads, not a thousand.
    """
    model = unwrap(model)
    in_opt: set[int] | None = None
    if optimizer is not None:
        in_opt = {id(p) for group in optimizer.param_groups for p in group["params"]}
    seen: set[int] = set()
    infos: list[ParamInfo] = []
    tensors: list[nn.Parameter] = []
    facts = _Facts()
    for mod_name, module in model.named_modules():
        facts.note(module)
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{pname}" if mod_name else pname
            infos.append(
                ParamInfo(
                    name=full,
                    module=mod_name,
                    module_type=module_type_name(module),
                    param=pname,
                    shape=tuple(int(s) for s in p.shape),
                    numel=int(p.numel()),
                    requires_grad=bool(p.requires_grad),
                    in_optimizer=None if in_opt is None else id(p) in in_opt,
                )
            )
            tensors.append(p)
    trainable = [p for p in tensors if p.requires_grad] or tensors
    return ModelInfo(
        params=tuple(infos),
        tensors=tuple(tensors),
        model=module_type_name(model),
        total_params=sum(i.numel for i in infos),
        trainable_params=sum(i.numel for i in infos if i.requires_grad),
        activations=tuple(facts.activations),
        norms=tuple(facts.norms),
        attention=facts.attention,
        residual=facts.residual(),
        tied=_tied(model),
        precision=precision_of({str(p.dtype) for p in trainable}),
    )


class _Facts:
    """Accumulates what the modules' classes show, in registration order."""

    def __init__(self) -> None:
        self.activations: dict[str, None] = {}
        self.norms: dict[str, None] = {}
        self.attention = False
        self.skip = False

    def note(self, module: nn.Module) -> None:
        cls = _user_class(module)
        try:
            facts = class_facts(cls)
        except TypeError:  # an unhashable class (a metaclass with __eq__): no cache, no facts
            facts = None
        if facts is not None:
            self.activations.update(dict.fromkeys(facts.activations))
            self.norms.update(dict.fromkeys(facts.norms))
            self.attention |= facts.attention
            self.skip |= facts.residual
        fn = functional_activation(module)
        if fn:
            self.activations[fn] = None

    def residual(self) -> bool | None:
        """True when seen, or for a transformer (attention blocks with a layer-wise norm:
        every such architecture adds its input back); never False, since a skip can hide
        in code this cannot read."""
        layer_norm = any(n in ("LayerNorm", "RMSNorm") for n in self.norms)
        return True if self.skip or (self.attention and layer_norm) else None


def _user_class(module: nn.Module) -> type:
    """FSDP2 swaps a module's class for a generated ``FSDP<Name>``; read the user's."""
    cls = type(module)
    if is_fsdp2(module):
        bases = [b for b in cls.__bases__ if b.__name__ != "FSDPModule"]
        if bases:
            return bases[-1]
    return cls


def _tied(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    """Names that share one parameter tensor (a tied LM head, a layer used twice); the
    first name of each group is the one the header lists."""
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return tuple(tuple(names) for names in groups.values() if len(names) > 1)


def rank_and_world() -> tuple[int, int]:
    """The global rank and world size, or (0, 1) when torch.distributed is not in use."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def host_and_pid() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


# The script and its arguments, bounded: a header is one line the viewer reads whole.
ARGV_MAX_ARGS = 64
ARGV_MAX_CHARS = 4096  # all arguments together
NAME_MAX_CHARS = 200


def command_line(argv: list[str] | None = None) -> tuple[str, ...]:
    """``sys.argv`` as the header records it: at most ``ARGV_MAX_ARGS`` arguments and
    ``ARGV_MAX_CHARS`` characters; what is cut is said in a last "... (N more)" entry,
    so a reader never takes a shortened command for the whole one."""
    args = [a if isinstance(a, str) else str(a) for a in (sys.argv if argv is None else argv)]
    kept: list[str] = []
    room = ARGV_MAX_CHARS
    for arg in args[:ARGV_MAX_ARGS]:
        if room <= 0:
            break
        kept.append(arg[:room])
        room -= len(arg)
    cut = len(args) - len(kept) + sum(1 for a, k in zip(args, kept, strict=False) if a != k)
    if cut:
        kept.append(f"... ({cut} more arguments cut or shortened)")
    return tuple(kept)


def run_name(name: object) -> str:
    """The Logger's ``name=``: a label a person reads (``--run`` takes it); "" when none."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    return name.strip()[:NAME_MAX_CHARS]


def optimizer_meta(optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """Hyper-parameters of the first param group the diagnosis can use (``eps``: Adam's
    floor below which gradients stop moving the weights, gradtop.diagnosis.view)."""
    if optimizer is None or not getattr(optimizer, "param_groups", None):
        return {}
    group = optimizer.param_groups[0]
    out: dict[str, Any] = {}
    for key in ("eps", "betas", "momentum", "weight_decay"):
        value = group.get(key)
        try:
            if isinstance(value, tuple | list):
                out[key] = [float(v) for v in value]
            elif isinstance(value, int | float | torch.Tensor) and not isinstance(value, bool):
                out[key] = float(value)
        except (TypeError, ValueError, RuntimeError):
            continue  # not a plain number (a schedule object, a multi-element tensor)
    return out
