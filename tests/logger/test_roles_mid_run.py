"""Gradual unfreezing: layers that start frozen and outside the optimizer, then train.

Fine-tuning recipes (ULMFiT's gradual unfreezing, a frozen backbone warmed up under a new
head) call ``requires_grad_(True)`` and ``optimizer.add_param_group`` mid-run. The header
was written before, so the records must say the new roles, and the diagnosis must stop
calling those layers frozen or missing from the optimizer. What the test itself measures
(the weights before and after each step, the gradient norm the step used, who holds
what) is the label; gradtop's numbers are held against it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import gradtop
from gradtop.cli import main
from gradtop.records import Step
from gradtop.teaching.scorecard import diagnose_file
from tests.support import read_records, split

UNFREEZE_AT = 60  # the step (1-based, as the Logger counts) that first trains the backbone
STEPS = 200


class RMSNorm(nn.Module):
    """A norm class of the project's own, as LLaMA-style code writes it."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.nn.functional.gelu(self.fc(self.norm(x)))


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(16, 32), Block(32), Block(32))
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _train(path: Path, *, unfreeze: bool = True, detail_every: int = 5) -> dict[str, object]:
    """Head first, backbone frozen; at UNFREEZE_AT the backbone joins with a lower lr."""
    torch.manual_seed(0)
    x = torch.randn(256, 16)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3
    model = Classifier()
    model.backbone.requires_grad_(False)
    opt = torch.optim.AdamW(model.head.parameters(), lr=3e-3)
    params = list(model.parameters())
    evidence: dict[int, dict[str, object]] = {}
    with gradtop.Logger(path, model, optimizer=opt, detail_every=detail_every) as log:
        for step in range(1, STEPS + 1):
            if unfreeze and step == UNFREEZE_AT:
                model.backbone.requires_grad_(True)
                opt.add_param_group({"params": model.backbone.parameters(), "lr": 3e-4})
            idx = torch.randint(0, 256, (32,), generator=torch.Generator().manual_seed(step))
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            log.log()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            held = {id(p) for g in opt.param_groups for p in g["params"]}
            grads = [p.grad for p in params if id(p) in held and p.grad is not None]
            before = [p.detach().clone() for p in params]
            opt.step()
            pairs = list(zip(before, params, strict=True))
            norms = torch.stack([g.norm() for g in grads])
            evidence[step] = {
                "requires_grad": [p.requires_grad for p in params],
                "held": [id(p) in held for p in params],
                "step_norm": float(torch.linalg.vector_norm(norms)),
                "ratio": [
                    float((b - p.detach()).norm() / b.norm()) if b.norm() > 0 else 0.0
                    for b, p in pairs
                ],
                "moved": [bool((b != p.detach()).any()) for b, p in pairs],
            }
    names = [n for n, _ in model.named_parameters()]
    return {"evidence": evidence, "names": names}


@pytest.fixture(scope="module")
def unfrozen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    path = tmp_path_factory.mktemp("unfreeze") / "run.jsonl"
    return path, _train(path)


def test_records_state_the_roles_the_run_has(unfrozen: tuple[Path, dict[str, object]]) -> None:
    path, run = unfrozen
    evidence = run["evidence"]
    assert isinstance(evidence, dict)
    headers, logged, _ = split(read_records(path))
    header = headers[0]
    backbone = [i for i, p in enumerate(header.params) if p.name.startswith("backbone.")]
    # The header tells the start: frozen and outside the optimizer.
    assert all(not header.params[i].requires_grad for i in backbone)
    assert all(header.params[i].in_optimizer is False for i in backbone)
    assert [p.name for p in header.params] == run["names"]  # same order as the evidence
    for s in logged:
        measured = evidence[s.step]
        if s.step < UNFREEZE_AT:  # nothing changed: the header says it
            assert s.requires_grad is None and s.in_optimizer is None
        else:
            assert list(s.requires_grad or ()) == measured["requires_grad"]
            assert list(s.in_optimizer or ()) == measured["held"]
    # The backbone really trained from that step on (the test's own label).
    assert all(evidence[UNFREEZE_AT]["moved"][i] for i in backbone)
    assert not any(evidence[UNFREEZE_AT - 1]["moved"][i] for i in backbone)


def test_the_added_group_gets_its_update_ratio_and_step_norm(
    unfrozen: tuple[Path, dict[str, object]],
) -> None:
    path, run = unfrozen
    evidence = run["evidence"]
    assert isinstance(evidence, dict)
    headers, logged, _ = split(read_records(path))
    backbone = [i for i, p in enumerate(headers[0].params) if p.name.startswith("backbone.")]
    detail_after = 0
    for s in logged:
        measured = evidence[s.step]
        # What reached the step: after clipping, over what the optimizer held then.
        assert s.step_grad_norm == pytest.approx(measured["step_norm"], rel=1e-5)
        ratio = s.stats["update_ratio"]
        if all(v is None for v in ratio):
            continue  # not a detail step
        for i in backbone:
            if s.step < UNFREEZE_AT:
                assert ratio[i] is None  # outside the optimizer: not measured
            else:
                assert ratio[i] == pytest.approx(measured["ratio"][i], rel=1e-4, abs=1e-12)
                detail_after += 1
    assert detail_after > 0


def test_check_no_longer_calls_unfrozen_layers_frozen_or_missing(
    unfrozen: tuple[Path, dict[str, object]],
) -> None:
    path, _ = unfrozen
    result = CliRunner().invoke(main, ["check", "--json", str(path)])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    by_kind = {f["kind"]: f for f in findings}
    assert "not_in_optimizer" not in by_kind  # frozen layers are frozen, not forgotten
    frozen = by_kind["frozen"]
    # True while it lasted (the steps before the unfreezing are diagnosed with the roles
    # they were logged under, though the bulk cadence is 128 steps), and cleared since.
    assert frozen["first_step"] <= 2 and frozen["last_step"] == UNFREEZE_AT - 1
    assert frozen["cleared_step"] is not None and frozen["cleared_step"] >= UNFREEZE_AT
    # The live cadence says the same.
    _, live = diagnose_file(path)
    kinds = {f.kind: f for f in live}
    assert "not_in_optimizer" not in kinds and not kinds["frozen"].active


def test_a_layer_never_added_is_still_reported(tmp_path: Path) -> None:
    """The healthy-looking twin of the bug: unfrozen but never given to the optimizer."""
    torch.manual_seed(0)
    model = Classifier()
    opt = torch.optim.AdamW(model.head.parameters(), lr=3e-3)  # the backbone is forgotten
    x, y = torch.randn(64, 16), torch.randint(0, 3, (64,))
    path = tmp_path / "run.jsonl"
    with gradtop.Logger(path, model, optimizer=opt) as log:
        for _ in range(40):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            log.log()
            opt.step()
    _, findings = diagnose_file(path)
    missing = next(f for f in findings if f.kind == "not_in_optimizer")
    assert missing.active
    names = [p.name for p in split(read_records(path))[0][0].params]
    assert {names[i] for i in missing.params} == {n for n in names if n.startswith("backbone.")}


def test_a_step_without_roles_goes_back_to_the_header(tmp_path: Path) -> None:
    """Absent means the header's roles (every step states them once they differ), so a
    reader that starts mid-file, or after a rotation, is never told stale roles."""
    path = tmp_path / "run.jsonl"
    _train(path, detail_every=10)
    lines = path.read_bytes().splitlines(keepends=True)
    steps_at = [i for i, line in enumerate(lines) if b'"kind":"step"' in line]
    changed = [i for i in steps_at if b'"in_optimizer"' in lines[i]]
    assert changed and len(changed) == STEPS - UNFREEZE_AT + 1
    # A step with a malformed roles array is a skipped line, counted, not half read.
    bad = lines[changed[0]].replace(b'"in_optimizer":[', b'"in_optimizer":[1,')
    edited = [*lines[: changed[0]], bad, *lines[changed[0] + 1 :]]
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"".join(edited))
    from gradtop.reader import FileReader

    with FileReader(broken) as reader:
        records = [r for batch in reader.read_to_end() for r in batch.records]
        skipped = reader.status.skipped
    assert sum(isinstance(r, Step) for r in records) == STEPS - 1
    assert skipped.get("schema") == 1
    run, _ = diagnose_file(path)
    backbone = [p for p in run.params if p.name.startswith("backbone.")]
    assert all(p.requires_grad and p.in_optimizer for p in backbone)
    assert run.roles_changed_at == UNFREEZE_AT


def test_unfreezing_inside_the_optimizer_is_stated_from_its_first_step(tmp_path: Path) -> None:
    """The other common recipe: the optimizer holds every parameter from the start, and
    ``requires_grad_(True)`` alone unfreezes, here between two detail steps."""
    torch.manual_seed(0)
    model = Classifier()
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 16), torch.randint(0, 3, (64,))
    path = tmp_path / "run.jsonl"
    at = 24  # not a detail step at detail_every=10
    truth = {}
    with gradtop.Logger(path, model, optimizer=opt, detail_every=10) as log:
        for step in range(1, 41):
            if step == at:
                model.backbone.requires_grad_(True)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            log.log()
            opt.step()
            truth[step] = tuple(p.requires_grad for p in model.parameters())
    logged = split(read_records(path))[1]
    assert all(s.in_optimizer is None for s in logged)  # it held them all along
    assert [s.requires_grad for s in logged] == [
        None if step < at else truth[step] for step in range(1, 41)
    ]


def test_a_group_added_between_the_step_and_a_later_log(tmp_path: Path) -> None:
    """``log()`` after ``opt.step()``: what the step hooks took belongs to the old groups.
    That record says its update and step norm are unknown instead of packing old rows
    under the new layout (which shifted every statistic after them)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    opt = torch.optim.SGD(list(model[0].parameters()), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    path = tmp_path / "run.jsonl"
    at = 11  # a detail step at detail_every=5
    norms: dict[int, list[float]] = {}
    with gradtop.Logger(path, model, optimizer=opt, detail_every=5) as log:
        for step in range(1, 21):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            if step == at:
                opt.add_param_group({"params": list(model[1].parameters())})
            norms[step] = [float(p.grad.norm()) for p in model.parameters()]
            log.log()
    _, logged, ends = split(read_records(path))
    assert ends[0].dropped == 0 and [s.step for s in logged] == list(range(1, 21))
    for s in logged:
        assert s.stats["grad_norm"] == pytest.approx(norms[s.step], rel=1e-5)
    changed = logged[at - 1]
    assert changed.in_optimizer == (True,) * 4
    assert changed.stats["update_ratio"] == [None] * 4 and changed.step_grad_norm is None
    later = logged[15]  # step 16, a detail step: the new group is measured
    assert all(v is not None for v in later.stats["update_ratio"])


def test_freezing_the_watched_parameter_keeps_the_stale_check(tmp_path: Path) -> None:
    """The stale-gradient check watches the smallest trainable parameter; freezing its
    layer mid-run (gradual freezing) moves the watch instead of ending the check."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))  # watched: 2.bias
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 8), torch.randn(16, 1)
    path = tmp_path / "run.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with gradtop.Logger(path, model, optimizer=opt) as log:
            for step in range(1, 21):
                if step == 8:
                    model[2].requires_grad_(False)
                opt.zero_grad(set_to_none=True)
                nn.functional.mse_loss(model(x), y).backward()
                log.log()
                opt.step()
    assert [str(w.message) for w in caught if "gradtop" in str(w.message)] == []
    logged = split(read_records(path))[1]
    assert [s.grads_stale for s in logged[9:]] == [False] * 11  # still checked, and cleared
    assert logged[7].requires_grad == (True, True, False, False)
