"""What the model already has (norms, activations, attention, skip connections), so that
the viewer never proposes adding it.

torch.nn classes name only part of a real model: nanoGPT writes its own ``LayerNorm``
and calls ``F.gelu`` in a forward, Transformers has its own activation and RMSNorm
classes, attention is usually written by hand, and skip connections are never modules.
So besides the module types, the ``forward`` source of the model's own classes is read
(never run): that is the only place a functional GELU or an ``x + self.attn(x)`` shows.

Everything here is computed once per class (``class_facts`` is cached), from the class
name and the source text, and never raises: a class whose source cannot be read (built
at run time, a C extension, a notebook cell gone) contributes what its name says.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass

from torch import nn

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
# Layers such as nn.TransformerEncoderLayer (or Transformers' GELUActivation) hold their
# activation as a plain function in an attribute; name those too, or a transformer would
# list none.
FUNCTIONAL_ACTIVATIONS = {
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
ACTIVATION_ATTRS = ("activation", "act", "act_fn", "activation_fn")


def _classes(names: tuple[str, ...]) -> tuple[type, ...]:
    return tuple(getattr(nn, n) for n in names if isinstance(getattr(nn, n, None), type))


ACTIVATION_TYPES = _classes(_ACTIVATION_MODULES)
NORM_TYPES = _classes(_NORM_MODULES)
# torch's own blocks that add their input back (their source is not scanned).
_TORCH_RESIDUAL = ("TransformerEncoderLayer", "TransformerDecoderLayer")


@dataclass(frozen=True, slots=True)
class ClassFacts:
    """What one module class shows by its type, its name and its ``forward`` source."""

    activations: tuple[str, ...] = ()
    norms: tuple[str, ...] = ()
    attention: bool = False
    residual: bool = False


_NONE = ClassFacts()

# --------------------------------------------------------------------- names

# A norm class by name: ends in Norm / Normalization (T5LayerNorm, LlamaRMSNorm, a user's
# ``LayerNorm``), or contains one of the known kinds (FusedLayerNormFp32).
_NORM_NAME = re.compile(
    r"(?:Norm|Normali[sz]ation)(?:\d[dD])?$|LayerNorm|RMSNorm|BatchNorm|GroupNorm|InstanceNorm"
)
_NORM_KINDS = (
    ("RMS", "RMSNorm"),
    ("BatchNorm", "BatchNorm"),
    ("GroupNorm", "GroupNorm"),
    ("InstanceNorm", "InstanceNorm"),
    ("LayerNorm", "LayerNorm"),
    ("LayerNormali", "LayerNorm"),
)
# Activation classes of other libraries (Transformers: GELUActivation, NewGELUActivation,
# QuickGELUActivation, SiLUActivation, ReLUSquaredActivation, ...), first match wins.
_ACTIVATION_NAMES = (
    (re.compile(r"Leaky[Rr]e[Ll][Uu]"), "LeakyReLU"),
    (re.compile(r"G[Ee][Ll][Uu]"), "GELU"),
    (re.compile(r"Si[Ll][Uu]|Swish|SwiGLU"), "SiLU"),
    (re.compile(r"Re[Ll][Uu]"), "ReLU"),
    (re.compile(r"Tanh"), "Tanh"),
    (re.compile(r"Sigmoid"), "Sigmoid"),
    (re.compile(r"Mish"), "Mish"),
    (re.compile(r"Softplus"), "Softplus"),
)
_RESIDUAL_NAME = re.compile(r"Residual|ResBlock|ResNetBlock|^BasicBlock$|^Bottleneck$")

# --------------------------------------------------------------------- forward source

_FN = r"(?:(?:\bF|functional|torch)\s*\.\s*|(?<![\w.]))"  # F.x( / torch.x( / a bare x(
_SOURCE_NORMS = (
    (re.compile(_FN + r"layer_norm\s*\("), "LayerNorm"),
    (re.compile(_FN + r"rms_norm\s*\("), "RMSNorm"),
    (re.compile(_FN + r"batch_norm\s*\("), "BatchNorm"),
    (re.compile(_FN + r"group_norm\s*\("), "GroupNorm"),
    (re.compile(_FN + r"instance_norm\s*\("), "InstanceNorm"),
)
# x * rsqrt(mean(x^2) + eps): RMSNorm written out (Llama, T5LayerNorm, Gemma).
_RSQRT = re.compile(r"\brsqrt\s*\(")
_MEAN_SQUARE = re.compile(
    r"(?:pow\s*\(\s*2(?:\.0)?\s*\)|\*\*\s*2\s*\)|square\s*\(\s*\))\s*\.\s*mean\s*\("
)
# tanh-approximated GELU written out (nanoGPT's new_gelu, GPT-2): its tanh is no Tanh unit.
_GELU_CONSTANT = re.compile(r"0\.044715")
# x * sigmoid(x) is SiLU (and x * sigmoid(1.702 x) QuickGELU), not a saturating unit.
_GATED_SIGMOID = re.compile(
    r"\b(\w+)\s*\*\s*(?:torch\s*\.\s*|F\s*\.\s*)?sigmoid\s*\(\s*(?:[\d.]+\s*\*\s*)?\1\s*\)"
)
_SOURCE_ACTIVATIONS = (
    (re.compile(r"\bleaky_relu_?\s*\("), "LeakyReLU"),
    (re.compile(r"gelu\w*\s*\("), "GELU"),
    (re.compile(r"\brelu_?\s*\(|\bclamp(?:_min)?_?\s*\(\s*(?:min\s*=\s*)?0(?:\.0?)?\s*\)"), "ReLU"),
    (re.compile(r"\brelu6\s*\("), "ReLU6"),
    (re.compile(r"\b(?:silu|swish)_?\s*\("), "SiLU"),
    (re.compile(r"\btanh_?\s*\("), "Tanh"),
    (re.compile(r"\bsigmoid_?\s*\("), "Sigmoid"),
    (re.compile(r"\bsoftplus\s*\("), "Softplus"),
    (re.compile(r"\bmish\s*\("), "Mish"),
    (re.compile(r"\belu\s*\("), "ELU"),
    (re.compile(r"\bselu\s*\("), "SELU"),
    (re.compile(r"\bhardswish\s*\("), "Hardswish"),
    (re.compile(r"\bhardtanh\s*\("), "Hardtanh"),
)
_SDPA = re.compile(r"scaled_dot_product_attention\s*\(|\bflash_attn\w*\s*\(")
_SOFTMAX = re.compile(r"\bsoftmax\s*\(")
_MATMUL = re.compile(r"(?<![@*])@(?!=)|\b(?:matmul|bmm|einsum|baddbmm)\s*\(")
# Names a skip path goes by: residual + hidden_states (Llama), hidden_states + input_tensor
# (BERT), out += identity (torchvision), out += self.shortcut(x) (CIFAR ResNets).
_SKIP_NAME = re.compile(r"^_*(?:residual|identity|shortcut|skip|input_tensor)", re.IGNORECASE)
_DECORATOR = re.compile(r"^\s*@.*$", re.MULTILINE)
_DROPPED_TOKENS = {
    tokenize.COMMENT,
    tokenize.STRING,
    *(getattr(tokenize, n) for n in ("FSTRING_MIDDLE", "TSTRING_MIDDLE") if hasattr(tokenize, n)),
}


def is_torch_class(cls: type) -> bool:
    """torch's own classes need no scan: their names already say what they are."""
    module = getattr(cls, "__module__", "") or ""
    return module == "torch" or module.startswith("torch.")


def code_of(source: str) -> str:
    """The source without comments, strings and decorators: a docstring that says "no
    residual here" or a decorator's ``@`` must not read as code."""
    source = textwrap.dedent(source)
    try:
        lines = source.splitlines(keepends=True)
        blank = [list(line) for line in lines]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in _DROPPED_TOKENS:
                continue
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                row = blank[r - 1]
                start = c0 if r == r0 else 0
                end = c1 if r == r1 else len(row)
                for c in range(start, min(end, len(row))):
                    if row[c] != "\n":
                        row[c] = " "
        source = "".join("".join(row) for row in blank)
    except (tokenize.TokenError, IndentationError, SyntaxError, IndexError):
        source = re.sub(r"#[^\n]*", "", source)
    return _DECORATOR.sub("", source)


def _forward_source(cls: type) -> str:
    """The source of the ``forward`` a class runs, or "" (torch's own, or unreadable)."""
    owner = next((c for c in cls.__mro__ if "forward" in vars(c)), None)
    if owner is None or is_torch_class(owner):
        return ""
    try:
        return textwrap.dedent(inspect.getsource(vars(owner)["forward"]))
    except Exception:  # OSError/TypeError (no source), anything odd: the name still counts
        return ""


def _norm_kind(name: str, code: str) -> str:
    """The canonical kind of a norm class, from its name, else from what it computes."""
    for token, kind in _NORM_KINDS:
        if token in name:
            if kind == "LayerNorm" and _is_rms(code) and not _SOURCE_NORMS[0][0].search(code):
                return "RMSNorm"  # T5LayerNorm: named LayerNorm, computes RMSNorm
            return kind
    found = _source_norms(code)
    return found[0] if found else ""


def _is_rms(code: str) -> bool:
    return bool(_RSQRT.search(code) and _MEAN_SQUARE.search(code))


def _source_norms(code: str) -> list[str]:
    found = [kind for pattern, kind in _SOURCE_NORMS if pattern.search(code)]
    if _is_rms(code) and "RMSNorm" not in found:
        found.append("RMSNorm")
    return found


def _source_activations(code: str) -> list[str]:
    found = ["GELU" if "1.702" in m.group(0) else "SiLU" for m in _GATED_SIGMOID.finditer(code)]
    code = _GATED_SIGMOID.sub("", code)
    if _GELU_CONSTANT.search(code):
        found.append("GELU")
        code = re.sub(r"\btanh_?\s*\(", "(", code)
    found += [kind for pattern, kind in _SOURCE_ACTIVATIONS if pattern.search(code)]
    return list(dict.fromkeys(found))


def _source_attention(code: str) -> bool:
    if _SDPA.search(code):
        return True
    # scores = q @ k^T, softmax, then @ v: two products around a softmax.
    return bool(_SOFTMAX.search(code)) and len(_MATMUL.findall(code)) >= 2


def _source_residual(source: str) -> bool:
    """An addition that brings a block's input back, outside any condition.

    Read from the syntax tree, not the text: ``h + block(h) if self.residual else
    block(h)`` (a switch that may be off) must not count, and neither may a comment.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return _skip_in(tree, conditional=False)


def _skip_in(node: ast.AST, conditional: bool) -> bool:
    if not conditional and _is_skip(node):
        return True
    for child in ast.iter_child_nodes(node):
        inside = conditional or (
            isinstance(node, ast.If | ast.IfExp | ast.While)
            and child is not getattr(node, "test", None)
        )
        if _skip_in(child, inside):
            return True
    return False


def _is_skip(node: ast.AST) -> bool:
    """x + f(x), f(x) + x, residual + h, h + input_tensor, x += self.f(x), out += identity,
    out += self.shortcut(x)."""
    pairs: tuple[tuple[ast.expr, ast.expr], ...]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        pairs = ((node.left, node.right), (node.right, node.left))
    elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        pairs = ((node.target, node.value),)
    else:
        return False
    for base, added in pairs:
        if _skip_named(base) or _skip_named(added):
            return True
        if (
            isinstance(base, ast.Name)
            and isinstance(added, ast.Call)
            and any(isinstance(n, ast.Name) and n.id == base.id for n in _call_args(added))
        ):
            return True
    return False


def _skip_named(node: ast.AST) -> bool:
    """A name (or a call of an attribute) that says it is the skip path."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return isinstance(name, str) and bool(_SKIP_NAME.match(name))


def _call_args(call: ast.Call) -> list[ast.AST]:
    """Every node inside a call's arguments (its input, however deeply it is wrapped)."""
    out: list[ast.AST] = []
    for arg in (*call.args, *(k.value for k in call.keywords)):
        out.extend(ast.walk(arg))
    return out


def _add(items: list[str], *names: str) -> None:
    for name in names:
        if name and name not in items:
            items.append(name)


@functools.lru_cache(maxsize=4096)
def class_facts(cls: type) -> ClassFacts:
    """Facts of one module class; cached, since a big model repeats a few classes."""
    try:
        return _class_facts(cls)
    except Exception:  # a describe() that raises would stop training before it starts
        return _NONE


def _class_facts(cls: type) -> ClassFacts:
    name = cls.__name__
    activations: list[str] = []
    norms: list[str] = []
    nn_norm = next((b for b in cls.__mro__ if b in NORM_TYPES), None)
    nn_act = next((b for b in cls.__mro__ if b in ACTIVATION_TYPES), None)
    if is_torch_class(cls):
        if nn_norm is not None:
            _add(norms, name)
        if nn_act is not None:
            _add(activations, name)
        return ClassFacts(
            tuple(activations),
            tuple(norms),
            attention=issubclass(cls, nn.MultiheadAttention),
            residual=name in _TORCH_RESIDUAL,
        )
    source = _forward_source(cls)
    code = code_of(source) if source else ""
    if nn_norm is not None:  # a subclass of a torch norm: its kind, then its own name
        _add(norms, nn_norm.__name__, name)
    elif _NORM_NAME.search(name):
        _add(norms, _norm_kind(name, code), name)
    if nn_act is not None:
        _add(activations, nn_act.__name__)
    else:
        _add(activations, next((k for p, k in _ACTIVATION_NAMES if p.search(name)), ""))
    if code:
        _add(norms, *_source_norms(code))
        _add(activations, *_source_activations(code))
    return ClassFacts(
        tuple(activations),
        tuple(norms),
        attention="Attention" in name
        or issubclass(cls, nn.MultiheadAttention)
        or (bool(code) and _source_attention(code)),
        residual=bool(_RESIDUAL_NAME.search(name)) or (bool(source) and _source_residual(source)),
    )


def functional_activation(module: nn.Module) -> str:
    """An activation held as a plain function in an attribute (``self.activation = F.gelu``)."""
    attrs = module.__dict__
    for key in ACTIVATION_ATTRS:
        fn = attrs.get(key)
        if fn is None or isinstance(fn, nn.Module) or not callable(fn):
            continue
        name = getattr(fn, "__name__", None)
        if name in FUNCTIONAL_ACTIVATIONS:
            return FUNCTIONAL_ACTIVATIONS[name]
    return ""


def precision_of(dtypes: set[str]) -> str:
    """One word for the trainable weights' storage dtype(s)."""
    words = {_DTYPE_WORDS.get(d, d.removeprefix("torch.")) for d in dtypes}
    if not words:
        return ""
    return words.pop() if len(words) == 1 else "mixed"


_DTYPE_WORDS = {
    "torch.float32": "fp32",
    "torch.float16": "fp16",
    "torch.bfloat16": "bf16",
    "torch.float64": "fp64",
}
