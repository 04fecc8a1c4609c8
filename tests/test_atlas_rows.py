"""The shipped atlas: its rows say what the engine says, and what the literature says.

* Every sampled row equals ``polyth.bounds`` (and ``polyth bounds --causal prefix``, and
  ``polyth tasks predict``) of its mechanism, asked afresh here.
* Known mechanisms have the exponents, verdicts and predictions of their sources, and
  "only trees are quadratic" [CPA26] holds over the whole atlas.
* The atlas holds one row per isomorphism class of every family it ships (graphs up to t = 5,
  hypergraphs up to t = 4).
* A component without the query does not cancel while it carries value variables: checked
  against ``polyth.reference``.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import polyth
import polyth.atlas
from polyth.atlas import columns
from polyth.atlas.columns import COLUMNS, schema, task_column
from polyth.atlas.enumeration import Member, families
from polyth.atlas.store import SHIPPED_BUILDS, read_column, write_partition
from polyth.mechanism import Mechanism, zoo
from polyth.tasks.predict import TASKS, predict
from polyth.theory import cost
from tests.test_atlas_enumeration import orbit_count, rooted_graphs_without_isolated_vertices


@pytest.fixture(scope="module")
def atlas() -> pd.DataFrame:
    return polyth.atlas.load()


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row up to t = 3, and an evenly spaced sample of each larger family."""
    parts = []
    for (t, _), rows in frame.groupby(["t", "hyperedges"], sort=True):
        parts.append(rows if t <= 3 else rows.iloc[:: max(1, len(rows) // 4)])
    return pd.concat(parts)


def test_the_columns_are_the_schema(atlas):
    assert list(atlas.columns) == [c.name for c in COLUMNS]
    assert atlas["mechanism"].is_unique


def test_one_row_per_class_of_every_family(atlas):
    counts = atlas.groupby(["t", "hyperedges"]).size().to_dict()
    assert sorted(counts) == sorted({f for t, e in SHIPPED_BUILDS for f in families(t, e)})
    for (t, hyperedges), rows in counts.items():
        if hyperedges == 2:
            assert rows == rooted_graphs_without_isolated_vertices(t), (t, hyperedges)
        else:
            assert rows == orbit_count(t, hyperedges), (t, hyperedges)


def test_sampled_rows_equal_the_engine(atlas):
    for _, row in _sample(atlas).iterrows():
        m = Mechanism.from_polynomial(row["mechanism"])
        assert m.t == row["t"] and len(m.monomials) == row["monomials"]
        b = polyth.bounds(m)
        best = b.best_lower
        assert row["exponent"] == str(b.exponent), row["mechanism"]
        assert row["exponent_omega_3"] == b.exponent_omega_3
        assert row["exponent_best"] == b.exponent_omega_best
        assert row["verdict"] == b.verdict
        assert (row["gap"] if isinstance(row["gap"], str) else None) == b.gap
        assert row["lower_exponent"] == str(best.exponent(m))
        assert (row["lower_strict"], row["lower_hypothesis"], row["lower_source"]) == (
            best.strict,
            best.hypothesis,
            best.source,
        )
        assert (row["lower_target"], row["lower_chain"]) == (str(best.target.polynomial), best.chain)
        assert json.loads(row["rectangular"]) == b.to_dict()["exact"]["rectangular"]
        assert row["tree"] == m.is_tree and row["connected"] == m.is_connected
        causal = polyth.bounds(m, causal="prefix")
        assert row["causal_exponent"] == str(causal.exponent)
        # the "exact decoding" row of `polyth bounds --causal prefix`: the causal plan's cost / n
        assert row["decode_per_token"] == str(cost.amortised_per_token(causal.plan))
        for p in predict(m):
            column = task_column(p.task)
            assert (row[column], row[f"{column}_reason"], row[f"{column}_source"]) == (
                p.answer,
                p.reason,
                p.source,
            )


def test_approximation_threshold_is_one_over_the_degree(atlas):
    # almost-linear approximation iff B = o((log n)^{1/k}), k the total degree [AS23, AS24, CPA26]
    assert (atlas["approx_threshold_exponent"] == 1 / atlas["hyperedges"]).all()


def _row(atlas, spec: str) -> pd.Series:
    wanted = zoo.from_spec(spec)
    same_shape = (atlas["t"] == wanted.t) & (atlas["monomials"] == len(wanted.monomials))
    for _, row in atlas[same_shape & (atlas["hyperedges"] == wanted.k)].iterrows():
        if Mechanism.from_polynomial(row["mechanism"]) == wanted:
            return row
    raise AssertionError(f"{spec} is not in the atlas")


@pytest.mark.parametrize(
    ("spec", "exponent", "verdict", "hypothesis", "answers"),
    [
        # Keles et al. 2023 (SETH); Sanford et al. 2023 (Match2 yes, Match3 no); Peng et al. 2024
        ("self", "2", "tight", "SETH", {"match2": "yes", "match3": "no", "compose:2": "no"}),
        # Kozachinskiy et al. 2025 (n^ω, Match3); CPA26 (Max-2SAT lower bound, no 3-fold composition)
        ("strassen", "omega", "tight", "Max-2SAT conjecture", {"match3": "yes", "compose:3": "no"}),
        # Alman & Song 2024 / CPA26 (n^3 under SETH); Sanford et al. 2023 (Match3)
        ("tensor:3", "3", "tight", "SETH", {"match3": "yes", "compose:3": "no"}),
        # CPA26: trees are quadratic; the path rooted at the query composes r = 3 functions
        ("path:4", "2", "tight", "SETH", {"compose:3": "yes"}),
        ("path:5", "2", "tight", "SETH", {"compose:4": "yes"}),
        ("star:4", "2", "tight", "SETH", {}),
    ],
)
def test_known_mechanisms(atlas, spec, exponent, verdict, hypothesis, answers):
    row = _row(atlas, spec)
    assert (row["exponent"], row["verdict"], row["lower_hypothesis"]) == (exponent, verdict, hypothesis)
    for task, answer in answers.items():
        assert row[task_column(task)] == answer, task


def _construction(cell: str, spec: str) -> str:
    (found,) = [part for part in cell.split(" | ") if part.startswith(f"{spec} (")]
    return found


def test_constructions_are_listed_where_registered(atlas):
    assert "strassen (2 heads): as it stands" in _row(atlas, "strassen")["match3_construction"]
    assert _row(atlas, "tensor:3")["match3_construction"].startswith("tensor:3 (1 head): as it stands")
    # the path construction on its own path, with the construction's scale, as tasks.find runs it:
    # only the query's value (which the construction does not read) is fed the constant 1
    path4 = _construction(_row(atlas, "path:4")["compose3_construction"], "path:4")
    assert path4 == "path:4 (1 head): set V(x1) = 1"
    # the path x1x2 + x2x3 + x3x4 inside the path on five variables: delete x5
    assert "set Q(x5) = 0, V(x5) = 1" in _construction(
        _row(atlas, "path:5")["compose3_construction"], "path:4"
    )
    # no construction is registered for 4-fold composition on four variables
    assert (atlas[atlas["t"] <= 4]["compose4_construction"] == "").all()


def test_only_trees_are_quadratic_over_the_whole_atlas(atlas):
    check = polyth.atlas.theorem_check(atlas).set_index("kind")
    assert (check["as expected"] == check["mechanisms"]).all(), check
    trees = atlas["connected"] & atlas["tree"]
    assert check.loc["connected trees", "mechanisms"] == int(trees.sum()) > 0
    assert check.loc["connected non-trees", "mechanisms"] == int((atlas["connected"] & ~atlas["tree"]).sum())


def test_every_row_answers_every_task(atlas):
    for task in TASKS:
        assert set(atlas[task_column(task)]) <= {"yes", "no", "unknown"}
    folds = atlas[[task_column(f"compose:{r}") for r in range(1, 5)]] == "yes"
    largest = folds.apply(lambda row: max([r + 1 for r, yes in enumerate(row) if yes], default=0), axis=1)
    assert (largest == atlas["max_compose"]).all()


def test_a_row_past_int64_is_written(tmp_path):
    # K6 costs n^ω(1,2,3): at n = 1024, d = 64 about 7.5·10^19 operations, past 2^63
    k6 = Member(tuple(itertools.combinations(range(1, 7), 2)))
    found = columns.row(k6)
    write_partition([found], schema(), tmp_path / "k6.parquet")
    (written,) = read_column(tmp_path / "k6.parquet", "operations")
    exact = cost.operation_count(polyth.bounds(k6.mechanism()).plan, 1024, 64, 64).total
    assert written == float(exact) and exact > 2**63


def test_a_component_without_the_query_multiplies_the_output_by_a_constant():
    """h = x1·x2 + x3·x4: the sum over (l3, l4) factors out of numerator and denominator only
    where no value sits on x3 or x4. With the default values (x2, x3, x4) the output is
    self-attention's times the constant row c = Σ e^{S34} V3 ⊙ V4 / Σ e^{S34}."""
    rng = np.random.default_rng(0)
    n, d, dv = 5, 3, 2
    Q = [rng.normal(size=(n, d)) for _ in range(4)]
    V = {a: rng.normal(size=(n, dv)) for a in (2, 3, 4)}
    m = Mechanism.from_polynomial("x1*x2 + x3*x4")
    weights = np.exp(Q[0] @ Q[1].T / d)
    self_attention = weights @ V[2] / weights.sum(axis=1, keepdims=True)
    far = np.exp(Q[2] @ Q[3].T / d)
    constant = np.einsum("jk,jc,kc->c", far, V[3], V[4]) / far.sum()
    out = polyth.reference.attention(m, Q, V)
    np.testing.assert_allclose(out, self_attention * constant, rtol=1e-12)
    assert np.abs(out - self_attention).max() > 0.1  # it does not cancel
    only_x2 = polyth.reference.attention(m.replace(values=("x2",)), Q, {2: V[2]})
    np.testing.assert_allclose(only_x2, self_attention, rtol=1e-12)  # it cancels
