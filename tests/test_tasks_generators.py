"""Task generators against brute-force loops and hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from polyth.errors import InputError
from polyth.tasks import (
    composition,
    default_modulus,
    generate,
    match2,
    match3,
    relation_composition,
)
from polyth.tasks.generators import match_targets


def test_composition_layout_and_targets_by_loops():
    r, m = 3, 4
    batch = composition(r, m, 20, seed=1)
    assert batch.n == r * m + 1 and batch.batch == 20 and batch.kinds == r + 1
    for b in range(batch.batch):
        tables = batch.symbols[b, : r * m].reshape(r, m)
        value = batch.symbols[b, -1]
        for k in range(r):
            value = tables[k][value]
        assert batch.targets[b] == value
    assert list(batch.index[0]) == [0, 1, 2, 3] * 3 + [0]
    assert list(batch.kind[0]) == [0] * 4 + [1] * 4 + [2] * 4 + [3]
    assert batch.symbols.min() >= 0 and batch.symbols.max() < m


def test_composition_degenerate_cases():
    one = composition(3, 1, 5, seed=0)  # m = 1: every function is 0
    assert (one.targets == 0).all() and (one.symbols == 0).all()
    single = composition(1, 6, 30, seed=4)  # r = 1: the answer is f_1(x), token x of the table
    rows = np.arange(30)
    np.testing.assert_array_equal(single.targets, single.symbols[rows, single.symbols[:, -1]])


def test_features_layouts():
    batch = composition(2, 12, 5, seed=3, fmt="paper")
    x = batch.features()
    assert batch.n == 25 and x.shape == (5, 25, 12 + 12 + 3) and x.dtype == np.float32
    token = 12 + 7  # f2's table, index 7
    assert x[0, token, batch.symbols[0, token]] == 1 and x[0, token, :12].sum() == 1
    assert x[0, token, 12 + 7] == 1 and x[0, token, 12:24].sum() == 1
    assert list(x[0, token, 24:]) == [0, 1, 0]
    assert list(x[0, -1, 24:]) == [0, 0, 1]
    koz = composition(2, 12, 5, seed=3)
    assert koz.features().shape == (5, 25, 12 + 3)
    np.testing.assert_array_equal(koz.symbols, batch.symbols)  # fmt only changes features
    match = match3(6, 5, 2, seed=0)
    assert match.features().shape == (2, 6, 5)
    np.testing.assert_array_equal(match.features().argmax(-1), match.symbols)


def test_seeds_reproducible():
    a = composition(2, 5, 7, seed=11)
    b = composition(2, 5, 7, seed=11)
    c = composition(2, 5, 7, seed=12)
    np.testing.assert_array_equal(a.symbols, b.symbols)
    assert not np.array_equal(a.symbols, c.symbols)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(match3(8, 9, 4, g1).symbols, match3(8, 9, 4, g2).symbols)


def _match_by_loops(x, M, arity):
    n = len(x)
    out = []
    for i in range(n):
        partners = itertools.product(range(n), repeat=arity - 1)
        out.append(int(any((x[i] + sum(x[j] for j in js)) % M == 0 for js in partners)))
    return out


@pytest.mark.parametrize("make, arity", [(match3, 3), (match2, 2)])
@pytest.mark.parametrize("n, M", [(5, 7), (6, 16), (4, 2), (7, 30), (9, 100)])
def test_match_targets_by_loops(make, arity, n, M):
    batch = make(n, M, 12, seed=n * M)
    assert batch.targets.shape == (12, n)
    for b in range(12):
        assert list(batch.targets[b]) == _match_by_loops(list(batch.symbols[b]), M, arity)


def test_match_hand_case():
    # M = 10, x = (1, 3, 6, 9). match3: 1+3+6 = 10 serves 1, 3 and 6; 9 needs a pair sum
    # ≡ 1, and the pair sums are {2, 4, 7, 0, 6, 9, 2, 2, 5, 8}. match2: 1 + 9 = 10.
    x = np.array([[1, 3, 6, 9]])
    assert list(match_targets(x, 10, "match3")[0]) == [1, 1, 1, 0]
    assert list(match_targets(x, 10, "match2")[0]) == [1, 0, 0, 1]
    # 2·5 ≡ 0 (mod 10): j = i counts; 5 + 5 + 0 for match3
    assert list(match_targets(np.array([[5, 0]]), 10, "match2")[0]) == [1, 1]
    assert list(match_targets(np.array([[5, 0]]), 10, "match3")[0]) == [1, 1]


def test_relation_composition_by_loops():
    m = 4
    batch = relation_composition(m, 6, seed=2, density=0.4)
    assert batch.n == m * m and batch.features().shape == (6, m * m, 4 + 2 * m)
    for b in range(6):
        a = (batch.symbols[b] // 2).reshape(m, m)
        r = (batch.symbols[b] % 2).reshape(m, m)
        for i, j in itertools.product(range(m), repeat=2):
            expected = int(any(a[i, k] and r[k, j] for k in range(m)))
            assert batch.targets[b, i * m + j] == expected


@pytest.mark.parametrize("task, n", [("match2", 16), ("match2", 64), ("match3", 16), ("match3", 48)])
def test_default_modulus_balances_targets(task, n):
    batch = generate(task, n, 200, seed=0)
    assert batch.domain == default_modulus(n, task)
    assert 0.3 < batch.targets.mean() < 0.7


def test_generate_dispatch_and_errors():
    batch = generate("compose:3", 13, 4, seed=0)
    assert batch.task == "compose:3" and batch.domain == 4 and batch.n == 13
    assert generate("relations", 9, 2, seed=0).domain == 3
    with pytest.raises(InputError, match="n = 2·m"):
        generate("compose:2", 12, 4)
    with pytest.raises(InputError, match="unknown task"):
        generate("match4", 12, 4)
    with pytest.raises(InputError, match="format"):
        composition(2, 3, 1, fmt="other")
    with pytest.raises(InputError, match="batch"):
        match2(4, 5, 0)
    for seed in ("abc", -1):
        with pytest.raises(InputError, match="seed"):
            match3(4, 5, 2, seed=seed)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    x, y = composition(2, 3, 4, seed=0, fmt="paper").torch()
    assert x.dtype == torch.float32 and x.shape == (4, 7, 9)
    assert y.dtype == torch.int64 and y.shape == (4,)


def test_match_with_a_huge_modulus_needs_no_table_of_M_entries():
    M = 10**12
    x = np.array([[1, M - 1, 5, M - 10, 3]])
    assert list(match_targets(x, M, "match2")[0]) == [1, 1, 0, 0, 0]  # 1 + (M − 1) ≡ 0
    # 5 + 5 + (M − 10) ≡ 0; no pair sums to −1 or to 1, so neither 1 nor M − 1 is matched
    assert list(match_targets(x, M, "match3")[0]) == [0, 0, 1, 1, 0]
    batch = match3(6, M, 3, seed=0)
    for b in range(3):
        assert list(batch.targets[b]) == _match_by_loops(list(batch.symbols[b]), M, 3)
