"""What the header says about the model: its parameter list in depth order, and context.

The viewer cannot import torch, so everything it needs to name layers, order them by
depth and make fixes specific ("your model uses Sigmoid: try ReLU/GELU") is captured
here once, at construction, and written into the header record.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gradtop.logger.parallel import module_type_name
from gradtop.records import ParamInfo

# Module types whose presence changes the advice a fix gives. Names, not classes, so a
# torch version without one of them (RMSNorm arrived in 2.4) still imports.
_ACTIVATION_MODULES = (
    "Threshold",
    "ReLU",
    "RReLU",
    "Hardtanh",
    "ReLU6",
    "Sigmoid",
    "Hardsigmoid",
    "Tanh",
    "SiLU",
    "Mish",
    "Hardswish",
    "ELU",
    "CELU",
    "SELU",
    "GLU",
    "GELU",
    "Hardshrink",
    "LeakyReLU",
    "LogSigmoid",
    "Softplus",
    "Softshrink",
    "PReLU",
    "Softsign",
    "Tanhshrink",
)
_NORM_MODULES = (
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LocalResponseNorm",
)
# Layers such as nn.TransformerEncoderLayer hold their activation as a plain function in
# an ``activation`` attribute; name those too, or a transformer would list none.
_FUNCTIONAL_ACTIVATIONS = {
    "relu": "ReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "softplus": "Softplus",
    "mish": "Mish",
}


def _classes(names: tuple[str, ...]) -> tuple[type, ...]:
    return tuple(getattr(nn, n) for n in names if isinstance(getattr(nn, n, None), type))


ACTIVATION_TYPES = _classes(_ACTIVATION_MODULES)
NORM_TYPES = _classes(_NORM_MODULES)


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
    ``named_modules`` walks children in the order ``__init__`` created them.
    """
    model = unwrap(model)
    in_opt: set[int] | None = None
    if optimizer is not None:
        in_opt = {id(p) for group in optimizer.param_groups for p in group["params"]}
    seen: set[int] = set()
    infos: list[ParamInfo] = []
    tensors: list[nn.Parameter] = []
    activations: dict[str, None] = {}
    norms: dict[str, None] = {}
    for mod_name, module in model.named_modules():
        _note_types(module, activations, norms)
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
    return ModelInfo(
        params=tuple(infos),
        tensors=tuple(tensors),
        model=module_type_name(model),
        total_params=sum(i.numel for i in infos),
        trainable_params=sum(i.numel for i in infos if i.requires_grad),
        activations=tuple(activations),
        norms=tuple(norms),
    )


def _note_types(module: nn.Module, activations: dict[str, None], norms: dict[str, None]) -> None:
    if isinstance(module, ACTIVATION_TYPES):
        activations[type(module).__name__] = None
    elif isinstance(module, NORM_TYPES):
        norms[type(module).__name__] = None
    fn = module.__dict__.get("activation")
    name = getattr(fn, "__name__", None)
    if callable(fn) and not isinstance(fn, nn.Module) and name in _FUNCTIONAL_ACTIVATIONS:
        activations[_FUNCTIONAL_ACTIVATIONS[name]] = None


def rank_and_world() -> tuple[int, int]:
    """The global rank and world size, or (0, 1) when torch.distributed is not in use."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def host_and_pid() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


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
