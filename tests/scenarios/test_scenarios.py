"""Real small models, trained on CPU with the real Logger into real files, diagnosed
through the real reader: each pathology is caught, each fix is quiet.

The expectations live with the scenarios (gradtop/demos/scenarios.py): ``expect`` kinds
must be raised at warning or worse, ``expect_info`` at any severity, and nothing else
may reach warning unless the scenario ``allow``s it (a consequence, such as NaN after an
explosion). benchmarks/diagnosis_scenarios.py prints the same scorecard as a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import torch

from gradtop.demos.scenarios import SCENARIOS, run_scenario
from gradtop.diagnosis import Severity
from gradtop.teaching.scorecard import Score, diagnose_file, score

pytestmark = pytest.mark.slow

SICK = [name for name, s in SCENARIOS.items() if s.expect or s.expect_info]
HEALTHY = [name for name, s in SCENARIOS.items() if not (s.expect or s.expect_info)]
CURABLE = [name for name, s in SCENARIOS.items() if s.fix]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """2-core CI: one intra-op thread per test, and results that do not depend on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_TRAINED: dict[tuple[object, int], Path] = {}


@pytest.fixture(scope="module")
def _runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenarios")


def _train(name: str, runs_dir: Path, **fix: object) -> tuple[Score, Path]:
    """Train once per distinct recipe (a fix may equal another scenario's recipe)."""
    scenario = SCENARIOS[name]
    key = (dataclasses.replace(scenario.recipe, **fix), scenario.steps)
    path = _TRAINED.get(key)
    if path is None or not path.exists():
        path = runs_dir / f"run{len(_TRAINED)}.jsonl"
        run_scenario(name, None, path, **fix)
        _TRAINED[key] = path
    return score(scenario, path), path


@pytest.mark.parametrize("name", SICK)
def test_each_pathology_is_caught_without_false_alarms(name: str, _runs_dir: Path) -> None:
    result, _ = _train(name, _runs_dir)
    assert not result.missed, f"{name}: missed {result.missed}; found {sorted(result.found)}"
    assert not result.false_alarms, f"{name}: false alarms {result.false_alarms}"


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_models_raise_no_warning(name: str, _runs_dir: Path) -> None:
    result, path = _train(name, _runs_dir)
    _, findings = diagnose_file(path)
    loud = [f"{f.kind}: {f.title}" for f in findings if f.severity >= Severity.WARNING]
    assert loud == [], f"{name}: {loud}"
    assert result.ok


@pytest.mark.parametrize("name", CURABLE)
def test_the_fix_makes_the_warnings_go_away(name: str, _runs_dir: Path) -> None:
    scenario = SCENARIOS[name]
    _, path = _train(name, _runs_dir, **scenario.fix)
    _, findings = diagnose_file(path)
    loud = [f"{f.kind}: {f.title}" for f in findings if f.severity >= Severity.WARNING]
    assert loud == [], f"{name} with {scenario.fix}: {loud}"


def test_vanishing_names_the_first_layers_not_the_last(_runs_dir: Path) -> None:
    result, path = _train("vanishing_sigmoid", _runs_dir)
    run, _ = diagnose_file(path)
    f = result.found["vanishing"]
    names = [run.params[i].name for i in f.params]
    assert names[0] == "inp.weight" and "blocks.0.0.weight" in names
    assert "head.weight" not in names and "blocks.17.0.weight" not in names
    assert f.fixes[0].key == "non_saturating_activation" and "Sigmoid" in f.fixes[0].title
    assert f.first_step <= 60, "reported early, within the first 60 of 300 steps"


@pytest.mark.parametrize("name", ["exploding_init", "exploding_lr"])
def test_exploding_is_raised_before_the_first_nonfinite_loss(name: str, _runs_dir: Path) -> None:
    result, _ = _train(name, _runs_dir)
    assert result.first_nonfinite_loss is not None, "the scenario must really blow up"
    assert result.lead is not None and result.lead >= 1, result
    if name == "exploding_init":
        boom = result.found["exploding"]
        assert boom.extra["cause"] == "init" and boom.first_step == 1
        assert "clip_grad_norm" not in {x.key for x in boom.fixes}


def test_frozen_layer_is_info_and_not_vanishing(_runs_dir: Path) -> None:
    result, path = _train("frozen_layer", _runs_dir)
    run, _ = diagnose_file(path)
    frozen = result.found["frozen"]
    assert [run.params[i].name for i in frozen.params] == ["inp.weight", "inp.bias"]
    assert "vanishing" not in result.found


def test_scenarios_are_deterministic(tmp_path: Path) -> None:
    def numbers(path: Path) -> list[object]:
        out = []
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            if rec["kind"] == "step":
                out.append((rec["step"], rec["loss"], rec["stats"]))
        return out

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_scenario("exploding_lr", 30, a, seed=3)
    run_scenario("exploding_lr", 30, b, seed=3)
    assert numbers(a) == numbers(b) and len(numbers(a)) >= 10


def test_unknown_scenario_and_option_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown scenario"):
        run_scenario("nope", 1, tmp_path / "x.jsonl")
    with pytest.raises(TypeError, match="unknown recipe option"):
        run_scenario("dead_relu", 1, tmp_path / "x.jsonl", activaton="relu")
