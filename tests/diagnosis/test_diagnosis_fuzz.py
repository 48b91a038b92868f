"""Whatever a (valid) file contains, the Diagnoser answers and never raises."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradtop.diagnosis import Diagnoser
from gradtop.history import History
from gradtop.records import Step
from tests.diagnosis.synth import Spec, header

NUMBERS = st.one_of(
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.just(0.0),
    st.floats(-1e30, 1e30, allow_nan=False),
    st.floats(1e-30, 1e3),
)
SPECS = st.lists(
    st.builds(
        Spec,
        name=st.sampled_from(["a.weight", "a.bias", "b.weight", "emb.weight", "n.weight"]),
        module_type=st.sampled_from(["Linear", "Embedding", "LayerNorm", "RNN", "Conv2d"]),
        shape=st.sampled_from([(4,), (4, 4), (2, 3, 3, 3), ()]),
        requires_grad=st.booleans(),
        in_optimizer=st.sampled_from([True, False, None]),
    ),
    min_size=0,
    max_size=5,
)
STATS = ("grad_norm", "grad_max", "weight_norm", "nonfinite", "zero_frac", "update_ratio")


@pytest.mark.filterwarnings("error")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=SPECS,
    optimizer=st.sampled_from(["SGD", "Adam", ""]),
    activations=st.sampled_from([(), ("Sigmoid",), ("ReLU", "Tanh")]),
    rows=st.lists(
        st.tuples(NUMBERS, NUMBERS, NUMBERS, st.lists(NUMBERS, min_size=6, max_size=6)),
        min_size=1,
        max_size=80,
    ),
    drop=st.sets(st.sampled_from(STATS)),
)
def test_the_diagnoser_never_raises(specs, optimizer, activations, rows, drop) -> None:  # type: ignore[no-untyped-def]
    h = History()
    head = header(specs, activations=activations, optimizer=optimizer)
    h.add(head)
    n = len(specs)
    d = Diagnoser()
    for i, (loss, lr, scale, values) in enumerate(rows):
        stats = {
            name: [values[(j + k) % 6] for j in range(n)]
            for k, name in enumerate(STATS)
            if name not in drop
        }
        h.add(
            Step(
                "run",
                i + 1,
                i + 1,
                float(i),
                loss=loss,
                lr=[] if lr is None else [lr],
                loss_scale=scale,
                stats=stats,
            )
        )
        findings = d.update(h.runs["run"])
    findings = d.update(h.runs["run"], force=True)
    for f in findings:
        assert all(0 <= p < n for p in f.params)
        assert f.title and f.first_step >= 1
