"""Path and Strassen attention compose functions: the explicit weights of construct_compose."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import polyth
import polyth.tasks.constructions.base
from polyth.errors import InputError
from polyth.tasks import accuracy, composition, find, generate
from polyth.tasks.constructions.compose import (
    path_composition,
    path_weights,
    strassen_composition,
    strassen_weights,
    token_features,
)

CASES = [("path:3", 2, 4), ("path:3", 2, 8), ("path:4", 3, 5), ("path:5", 4, 4), ("strassen", 2, 6)]


@pytest.mark.parametrize("spec, r, m", CASES)
def test_exact_at_default_B(spec, r, m):
    construction = find(spec, f"compose:{r}")
    assert construction is not None and construction.heads == 1
    assert accuracy(construction, r * m + 1, 300, seed=m) == 1.0


@pytest.mark.parametrize("spec, r", [("path:3", 2), ("path:5", 4), ("strassen", 2)])
def test_fails_far_below_default_B(spec, r):
    construction = find(spec, f"compose:{r}")
    n = r * 6 + 1
    assert construction.default_B(n, 6) > 2.4
    assert accuracy(construction, n, 200, B=0.4, seed=1) < 0.9


def _record_inputs(monkeypatch):
    seen = []
    original = polyth.tasks.constructions.base.attention

    def recording(m, Q, V, **options):
        seen.append((m, [np.array(q) for q in Q], V, options))
        return original(m, Q, V, **options)

    monkeypatch.setattr(polyth.tasks.constructions.base, "attention", recording)
    return seen


@pytest.mark.parametrize("make, r", [(lambda: path_composition(3), 3), (strassen_composition, 2)])
def test_Q_is_linear_in_features_and_bounded(monkeypatch, make, r):
    construction = make()
    batch = composition(r, 5, 40, seed=2)
    B = 1.7
    seen = _record_inputs(monkeypatch)
    construction.run(batch, B=B)
    ((m, Q, V, options),) = seen
    assert options["method"] == "exact" and m.scale == 1.0
    features = token_features(batch).reshape(-1, 2 * 5 + r + 2)
    for q in Q:
        assert np.abs(q).max() <= B
        flat = q.reshape(-1, q.shape[-1])
        w, *_ = np.linalg.lstsq(features, flat, rcond=None)
        np.testing.assert_allclose(features @ w, flat, atol=1e-9)
    assert set(V) == {a + 1 for a in m.values}


def _scores(mechanism, Q):
    """S(l) for every tuple (query = last token), by brute force from the definition."""
    n = Q[0].shape[0]
    t = mechanism.t
    out = {}
    for rest in itertools.product(range(n), repeat=t - 1):
        tokens = (n - 1,) + rest
        total = 0.0
        for mono in mechanism.monomials:
            product = np.ones(Q[0].shape[1])
            for a in mono.support:
                product = product * Q[a][tokens[a]] ** mono.powers[a]
            total += mono.value * product.sum()
        out[rest] = total
    return out


@pytest.mark.parametrize("folds", [2, 3])
def test_path_scores_separate_the_chain_by_B_squared(folds):
    m, B = 3, 1.3
    batch = composition(folds, m, 3, seed=7)
    mechanism = path_composition(folds).mechanism
    for b in range(batch.batch):
        features = token_features(batch)[b]
        scores = _scores(mechanism, [features @ w for w in path_weights(folds, m, B)])
        chain, value = [], batch.symbols[b, -1]
        for k in range(folds):
            chain.append(k * m + value)
            value = batch.symbols[b, k * m + value]
        best = scores.pop(tuple(chain))
        assert best == pytest.approx(2 * folds * B**2)
        assert max(scores.values()) == pytest.approx(best - B**2)


def test_strassen_scores_separate_the_chain_by_B_squared():
    m, B = 3, 0.9
    batch = composition(2, m, 3, seed=8)
    mechanism = strassen_composition().mechanism
    for b in range(batch.batch):
        features = token_features(batch)[b]
        scores = _scores(mechanism, [features @ w for w in strassen_weights(m, B)])
        first = batch.symbols[b, -1]
        best = scores.pop((first, m + batch.symbols[b, first]))
        assert best == pytest.approx(4 * B**2)
        assert max(scores.values()) == pytest.approx(best - B**2)


def test_find_by_canonical_form():
    assert find("x1*x2 + x2*x3", "compose:2").mechanism == path_composition(2).mechanism
    assert find("x1*x3 + x3*x2", "compose:2") is not None  # renaming the non-query variables
    assert find("x2*x3 + x3*x1 + x1*x2", "compose:2").embedding_dim.startswith("2m")
    assert find("path:3", "compose:3") is None
    assert find("x1*x2", "compose:2") is None
    assert find("x2*x1 + x1*x3", "compose:2") is None  # the query in the middle of the path
    # the construction chooses its value variables (here x1, x2, x3) and its scale
    assert find("x1*x2*x3", "match3").mechanism == find("tensor:3", "match3").mechanism
    assert find("x1*x2", "match2") is not None


def test_run_rejects_mismatched_input():
    construction = path_composition(2)
    with pytest.raises(InputError, match="compose:2"):
        construction.run(generate("compose:3", 13, 2, seed=0))
    with pytest.raises(InputError, match="entry bound"):
        construction.run(generate("compose:2", 9, 2, seed=0), B=-1.0)


def test_default_B_formula():
    construction = path_composition(4)
    n = 4 * 16 + 1
    assert construction.default_B(n, 16) == pytest.approx(np.sqrt(4 * np.log(n) + 1))
    assert construction.entry_bound == "sqrt(4·ln n + 1)"
