"""Match3 by 3-tensor and Strassen attention, Match2 by self-attention: construct_match's weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
import polyth.tasks.constructions.base
from polyth.errors import InputError
from polyth.tasks import accuracy, default_modulus, find, match2, match3
from polyth.tasks.constructions.match import (
    READOUT_THRESHOLD,
    frequencies,
    frequency_gap,
    onehot_features,
    phase_tables,
    strassen_match3,
    strassen_tables,
    tensor_match3,
)

CASES = [
    ("tensor:3", "match3", 8),
    ("tensor:3", "match3", 12),
    ("strassen", "match3", 10),
    ("self", "match2", 24),
]


@pytest.mark.parametrize("spec, task, n", CASES)
def test_exact_at_default_B(spec, task, n):
    construction = find(spec, task)
    assert construction is not None and construction.task == task
    assert accuracy(construction, n, 300, seed=n) == 1.0


@pytest.mark.parametrize("spec, task, n", CASES)
def test_fails_far_below_default_B(spec, task, n):
    construction = find(spec, task)
    B = construction.default_B(n, default_modulus(n, task))
    assert accuracy(construction, n, 200, B=B / 4, seed=n + 1) < 0.9


def test_find_by_polynomial_and_heads():
    assert find("tensor:3", "match3").heads == 1
    assert find("strassen", "match3").heads == 2
    assert find("self", "match2").heads == 1
    assert find("self", "match3") is None


@given(st.integers(2, 2000))
@settings(max_examples=25)
def test_frequency_gap_at_least_half(M):
    f = np.array(frequencies(M))
    assert ((f >= 1) & (f < M)).all()
    assert len(f) <= 4 * math.log(M) + 4
    lobes = np.cos(2 * np.pi * np.outer(np.arange(1, M), f) / M).mean(axis=1)
    assert lobes.max() <= 0.5 + 1e-9
    assert frequency_gap(M) == pytest.approx(1 - lobes.max())


@given(st.integers(2, 60), st.sampled_from([2, 3]), st.integers(0, 10**6))
@settings(max_examples=25)
def test_phase_tables_multiply_to_cos_of_the_sum(M, k, seed):
    tables = phase_tables(M, k)
    assert all(t.shape == (M, 2 ** (k - 1) * len(frequencies(M))) for t in tables)
    assert max(np.abs(t).max() for t in tables) <= 1 + 1e-12
    x = np.random.default_rng(seed).integers(0, M, size=(50, k))
    product = np.prod([tables[a][x[:, a]] for a in range(k)], axis=0).sum(axis=1)
    f = np.array(frequencies(M))
    expected = np.cos(2 * np.pi * np.outer(x.sum(axis=1), f) / M).sum(axis=1)
    np.testing.assert_allclose(product, expected, atol=1e-9)


@pytest.mark.parametrize("M", [2, 3, 7, 10])
@pytest.mark.parametrize("head", [0, 1])
def test_strassen_tables_score_and_value_are_the_penalty(M, head):
    (q1, q2, q3), (v1, v2, v3) = strassen_tables(M, head)
    a, b, c = np.meshgrid(np.arange(M), np.arange(M), np.arange(M), indexing="ij")
    a, b, c = a.ravel(), b.ravel(), c.ravel()
    penalty = -((b + c - ((-a) % M) - head * M) ** 2)
    score = (q1[a] * q2[b] + q2[b] * q3[c] + q3[c] * q1[a]).sum(axis=1)
    value = (v1[a] * v2[b] * v3[c]).sum(axis=1)
    np.testing.assert_allclose(score, penalty, atol=1e-9)
    np.testing.assert_allclose(value, penalty, atol=1e-9)
    assert max(np.abs(q).max() for q in (q1, q2, q3)) <= M + 1e-12
    # head 0 or head 1 is exactly at a match: the two heads cover every match
    if head == 1:
        q1_0, q2_0, q3_0 = strassen_tables(M, 0)[0]
        other = (q1_0[a] * q2_0[b] + q2_0[b] * q3_0[c] + q3_0[c] * q1_0[a]).sum(axis=1)
        at_match = np.isclose(np.maximum(score, other), 0)
        np.testing.assert_array_equal(at_match, (a + b + c) % M == 0)


def _record(monkeypatch):
    seen = []
    original = polyth.tasks.constructions.base.attention

    def recording(m, Q, V, **options):
        seen.append((m, [np.array(q) for q in Q], options))
        return original(m, Q, V, **options)

    monkeypatch.setattr(polyth.tasks.constructions.base, "attention", recording)
    return seen


@pytest.mark.parametrize("make, B", [(tensor_match3, 2.3), (strassen_match3, 180.0)])
def test_Q_is_linear_in_features_and_bounded(monkeypatch, make, B):
    construction = make()
    batch = match3(9, 23, 30, seed=4)
    seen = _record(monkeypatch)
    construction.run(batch, B=B)
    assert len(seen) == construction.heads
    features = onehot_features(batch)
    for head, (m, Q, options) in enumerate(seen):
        assert options["method"] == "exact" and m == construction.mechanism and m.values == (0, 1, 2)
        if construction.heads == 1:
            weights = [B * w for w in phase_tables(23, 3)]
        else:
            weights = [B / 23 * w for w in strassen_tables(23, head)[0]]
        for q, w in zip(Q, weights, strict=True):
            np.testing.assert_allclose(q, features @ w, atol=1e-9)
            assert np.abs(q).max() <= B * (1 + 1e-12)


def test_self_match2_readout_is_the_threshold(monkeypatch):
    construction = find("self", "match2")
    batch = match2(16, 23, 20, seed=5)
    seen = _record(monkeypatch)
    predictions = construction.run(batch)
    ((m, Q, options),) = seen
    assert np.abs(np.stack(Q)).max() <= construction.default_B(16, 23) * (1 + 1e-12)
    assert predictions.shape == batch.targets.shape and set(np.unique(predictions)) <= {0, 1}
    assert READOUT_THRESHOLD == 0.75
    np.testing.assert_array_equal(predictions, batch.targets)


def test_wrong_task_is_refused():
    with pytest.raises(InputError, match="match3"):
        tensor_match3().run(match2(8, 5, 2, seed=0))
    with pytest.raises(InputError, match="entry bound"):
        strassen_match3().run(match3(8, 5, 2, seed=0), B=-1.0)
