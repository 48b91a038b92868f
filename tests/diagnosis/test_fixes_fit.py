"""Fixes that fit the model: read from the headers of real models (written by the real
Logger, decoded from the file), never offering what the model or the run already has."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from gradtop.demos.models import MLP, Recipe
from gradtop.diagnosis import Thresholds
from gradtop.diagnosis.findings import Fix
from gradtop.diagnosis.fixes import CATALOGUE, fixes_for
from gradtop.diagnosis.kinds import FINDING_KINDS
from gradtop.diagnosis.view import Roles, roles_for
from gradtop.records import Header, decode_record
from tests.model_zoo import LSTMLM, bert, cnn, gpt2, llama

transformers = pytest.importorskip("transformers")

# Every kind with fixes, with no cause and with every cause its rule can hand the fixes.
KINDS = {k.id: ("", *k.causes) for k in FINDING_KINDS if k.fixes}


# --------------------------------------------------------------------- real headers

_RUNS = itertools.count()


def real_header(
    tmp_path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    clip_max_norm: float | None = None,
) -> Header:
    """The header the Logger writes for ``model``, as the viewer decodes it."""
    path = tmp_path / f"{type(model).__name__}-{next(_RUNS)}.jsonl"  # a fresh file: one run
    with gradtop.Logger(path, model, optimizer=optimizer, clip_max_norm=clip_max_norm):
        pass
    header = decode_record(path.read_bytes().split(b"\n")[0])
    assert isinstance(header, Header)
    return header


def roles(tmp_path: Path, model: nn.Module, opt: str = "adamw", **kw: float) -> Roles:
    optimizer: torch.optim.Optimizer
    if opt == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return roles_for(real_header(tmp_path, model, optimizer, **kw), Thresholds())


def keys(fixes: tuple[Fix, ...]) -> list[str]:
    return [f.key for f in fixes]


def every_fix(r: Roles, **kw: bool) -> list[tuple[str, str, Fix]]:
    return [
        (k, c, f) for k, causes in KINDS.items() for c in causes for f in fixes_for(k, r, c, **kw)
    ]


# --------------------------------------------------------------------- the model's facts


def test_transformers_get_no_batchnorm_layernorm_or_residual(tmp_path: Path) -> None:
    for model in (bert(), gpt2(), llama()):
        r = roles(tmp_path, model)
        assert r.attention and r.has_residual and "layer" in r.norm_families, type(model)
        offered = {f.key for _, _, f in every_fix(r)}
        assert not offered & {"batchnorm", "layernorm", "residual"}, (type(model), offered)
        # post-LN is the one norm change that can still help a transformer's lower blocks
        assert "pre_norm" in keys(fixes_for("vanishing", r))


def test_bert_pooler_tanh_is_not_blamed(tmp_path: Path) -> None:
    r = roles(tmp_path, bert())
    assert "Tanh" in r.activations and "GELU" in r.activations  # BertPooler, the blocks
    assert r.saturating == ()
    for kind in ("vanishing", "dead_units"):
        assert "non_saturating_activation" not in keys(fixes_for(kind, r)), kind


def test_gelu_only_gpt_gets_no_relu_advice(tmp_path: Path) -> None:
    r = roles(tmp_path, gpt2())
    assert r.activations == frozenset({"GELU"})
    assert r.tied == (("transformer.wte.weight", "lm_head.weight"),)
    for kind, cause, fix in every_fix(r):
        assert fix.key not in ("leaky_relu", "reset_bias", "non_saturating_activation"), kind
        assert "ReLU" not in fix.title, (kind, cause, fix.title)
    assert keys(fixes_for("dead_units", r))[0] == "lower_lr"


def test_configured_clipping_is_never_offered_again(tmp_path: Path) -> None:
    model = gpt2()
    plain = roles(tmp_path, model)
    clipped = roles(tmp_path, model, clip_max_norm=1.0)
    assert plain.clip_max_norm is None and clipped.clip_max_norm == 1.0
    offered = {f.key for _, _, f in every_fix(plain)}
    assert "clip_grad_norm" in offered  # sanity: without clipping it is advice
    assert "clip_grad_norm" not in {f.key for _, _, f in every_fix(clipped)}
    # a rule that saw clipping in the step norms says so without any framework setting
    assert "clip_grad_norm" not in {f.key for _, _, f in every_fix(plain, clipping=True)}
    over = fixes_for("over_clipped", clipped)
    assert keys(over) == ["raise_max_norm"] and "now 1" in over[0].title


def test_recurrent_init_without_containment_when_already_clipped(tmp_path: Path) -> None:
    model = LSTMLM()
    r = roles(tmp_path, model)
    assert r.recurrent and not r.attention and r.residual is None
    assert keys(fixes_for("exploding", r, "recurrent_init"))[-1] == "clip_grad_norm"
    clipped = roles(tmp_path, model, clip_max_norm=5.0)
    assert "clip_grad_norm" not in keys(fixes_for("exploding", clipped, "recurrent_init"))
    vanishing = fixes_for("vanishing", r)
    assert "forget_gate_bias" in keys(vanishing)
    norm = next(f for f in vanishing if f.key == "layernorm")
    assert "self.rnn(x)" in norm.code and "nn.LayerNorm(hidden_size)" in norm.code


def test_cnn_snippets_name_its_conv_layers(tmp_path: Path) -> None:
    r = roles(tmp_path, cnn(), opt="sgd")
    assert r.norm_families == frozenset({"batch"}) and r.activations == frozenset({"ReLU"})
    dead = fixes_for("dead_units", r)
    assert keys(dead)[:2] == ["reset_bias", "leaky_relu"]
    assert "isinstance(m, (nn.Conv2d, nn.Linear))" in dead[0].code
    assert "m.bias is not None" in dead[0].code
    he = CATALOGUE["he_init"]
    fitted = next(f for f in fixes_for("exploding", r, "init") if f.key == "he_init")
    assert fitted.title == he.title and "nn.Conv2d" in fitted.code and "nn.Linear" in fitted.code
    assert "batchnorm" not in keys(fixes_for("vanishing", r))  # it has BatchNorm2d
    bare = roles(tmp_path, cnn(batchnorm=False), opt="sgd")
    bn = next(f for f in fixes_for("vanishing", bare) if f.key == "batchnorm")
    assert "nn.BatchNorm2d(c)" in bn.code and "nn.Conv2d" in bn.code


def test_non_torch_layers_are_named_in_the_bias_loop(tmp_path: Path) -> None:
    """GPT-2's Conv1D (Transformers) is no nn class: the loop tests its name instead."""
    r = dataclasses.replace(roles(tmp_path, gpt2()), activations=frozenset({"ReLU"}))
    reset = next(f for f in fixes_for("dead_units", r) if f.key == "reset_bias")
    assert "type(m).__name__ in ('Conv1D',)" in reset.code
    he = next(f for f in fixes_for("exploding", r, "init") if f.key == "he_init")
    assert "# Conv1D: not torch.nn layers" in he.code


def test_the_demo_sigmoid_mlp_keeps_its_advice(tmp_path: Path) -> None:
    model = MLP(Recipe(depth=20, width=16, activation="sigmoid"), 8, 2)
    r = roles(tmp_path, model, opt="sgd")
    assert r.saturating == ("Sigmoid",) and not r.attention and r.residual is None
    vanishing = fixes_for("vanishing", r)
    assert keys(vanishing) == [
        "non_saturating_activation",
        "batchnorm",
        "residual",
        "xavier_init",
        "raise_lr",
    ]
    assert "Sigmoid" in vanishing[0].title
    assert "nn.Linear(d, d), nn.BatchNorm1d(d), nn.Sigmoid()" in vanishing[1].code
    assert "calculate_gain('sigmoid')" in vanishing[3].code
    assert "clip_grad_norm" not in keys(fixes_for("exploding", r, "init"))


# --------------------------------------------------------------------- the new kinds


def test_no_update_causes(tmp_path: Path) -> None:
    r = roles(tmp_path, cnn())
    assert keys(fixes_for("no_update", r, "zeroed_after_log"))[0] == "fix_clip_max_norm"
    assert keys(fixes_for("no_update", r, "weights_unchanged"))[:2] == [
        "check_optimizer_params",
        "check_lr",
    ]
    assert keys(fixes_for("no_update", r, "lr_zero")) == ["check_lr"]
    assert "max_norm=1.0" in CATALOGUE["fix_clip_max_norm"].code


def test_optimizer_kinds(tmp_path: Path) -> None:
    r = roles(tmp_path, cnn())
    assert keys(fixes_for("zero_grad_missing", r)) == ["zero_grad"]
    assert "zero_grad(set_to_none=True)" in CATALOGUE["zero_grad"].code
    assert keys(fixes_for("lr_collapsed", r)) == ["scheduler_per_epoch", "check_lr"]
    assert keys(fixes_for("over_clipped", r)) == ["raise_max_norm"]
    adamw = fixes_for("weight_collapse", r)
    assert keys(adamw) == ["lower_weight_decay"] and "AdamW: 0.01-0.1" in adamw[0].title
    sgd = fixes_for("weight_collapse", roles(tmp_path, cnn(), opt="sgd"))
    assert "SGD: 1e-4 to 5e-4" in sgd[0].title and "torch.optim.SGD" in sgd[0].code


def test_fp16_underflow_fits_the_precision(tmp_path: Path) -> None:
    half = roles(tmp_path, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).half())
    assert half.precision == "fp16"
    fixes = fixes_for("fp16_underflow", half)
    assert keys(fixes) == ["grad_scaler", "amp_dtype"]
    assert fixes[0].code.startswith("model.float()")  # GradScaler refuses fp16 gradients
    assert "bfloat16" in fixes[1].code and "overflow" not in fixes[1].why
    full = roles(tmp_path, cnn())
    assert not fixes_for("fp16_underflow", full)[0].code.startswith("model.float()")


def test_every_fix_is_complete_for_every_model(tmp_path: Path) -> None:
    models = (bert(), gpt2(), cnn(), cnn(batchnorm=False), LSTMLM())
    for model in models:
        for opt in ("adamw", "sgd"):
            r = roles(tmp_path, model, opt=opt)
            for kind, cause, fix in every_fix(r):
                assert fix.key in CATALOGUE, (kind, cause, fix.key)
                assert fix.title and fix.why and fix.code and fix.when, (kind, fix.key)
                assert compile(fix.code, fix.key, "exec"), fix.key  # snippets are Python
            for kind, causes in KINDS.items():
                for cause in causes:
                    found = keys(fixes_for(kind, r, cause))
                    assert len(found) == len(set(found)), (kind, cause, found)
    assert fixes_for("no_such_kind", r) == ()
