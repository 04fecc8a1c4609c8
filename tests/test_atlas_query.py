"""Questions to the shipped atlas, from Python and from ``polyth atlas query | summary``."""

from __future__ import annotations

import json

import networkx as nx
import pandas as pd
import pytest

import polyth.atlas
from polyth.atlas.query import select
from polyth.cli.main import main
from polyth.errors import PolyError
from polyth.mechanism import Mechanism


@pytest.fixture(scope="module")
def atlas() -> pd.DataFrame:
    return polyth.atlas.load()


def test_the_cheapest_mechanism_for_three_fold_composition_is_the_path(atlas):
    # [CPA26]: the path rooted at the query composes r functions with one head, and a tree is
    # quadratic; among quadratic mechanisms that compose 3 functions, the path on 4 variables
    # has the fewest monomials, hence the fewest operations
    found = select(atlas, solves="compose:3", cheapest=True)
    assert found["mechanism"].tolist() == ["x1*x2 + x2*x3 + x3*x4"]
    assert "this mechanism itself" in found["compose3_reason"].iloc[0]
    solvers = select(atlas, solves="compose:3")
    assert (solvers["exponent_best"] >= 2).all() and len(solvers) > 1


def test_gap_lists_the_mechanisms_whose_bounds_differ(atlas):
    gaps = select(atlas, gap=True)
    assert len(gaps) and set(gaps["verdict"]) <= {"gap", "open"}
    tight = atlas.drop(gaps.index)
    assert (tight["verdict"] == "tight").all()
    assert (tight["exponent"] == tight["lower_exponent"]).all() and not tight["lower_strict"].any()


def test_exponent_as_a_number_or_as_a_symbol(atlas):
    quadratic = select(atlas, exponent="2")
    assert len(quadratic) and (quadratic["exponent"] == "2").all()
    assert quadratic["tree"].all()
    omega = select(atlas, exponent="omega")
    assert "x1*x2 + x1*x3 + x2*x3" in set(omega["mechanism"])
    assert select(atlas, exponent="ω")["mechanism"].tolist() == omega["mechanism"].tolist()
    assert select(atlas, exponent=2.371339)["mechanism"].tolist() == omega["mechanism"].tolist()
    # K4: eliminating x4 then x3 multiplies an n × n by an n × n² matrix, n^ω(1,1,2), and
    # ω(1, 1, 2) ≤ 3.25164 (Le Gall & Urrutia 2018) is below ω + 1
    k4 = "x1*x2 + x1*x3 + x1*x4 + x2*x3 + x2*x4 + x3*x4"
    assert k4 in set(select(atlas, exponent="omega(1, 1, 2)")["mechanism"])
    assert k4 in set(select(atlas, exponent=3.25164)["mechanism"])


def test_simulates_strassen_on_graphs_is_a_triangle_through_the_query(atlas):
    # on a graph every monomial hosts only itself, so a graph simulates x1x2 + x2x3 + x3x1 with
    # the query fixed exactly when some triangle passes through x1 (checked here with networkx)
    graphs = atlas[(atlas["hyperedges"] == 2) & (atlas["t"] <= 4)]
    found = select(graphs, simulates="strassen")
    expected = set()
    for text in graphs["mechanism"]:
        primal = Mechanism.from_polynomial(text).primal_graph
        if any("x1" in cycle for cycle in nx.simple_cycles(primal, length_bound=3)):
            expected.add(text)
    assert set(found["mechanism"]) == expected and expected
    assert found.loc[found["mechanism"] == "x1*x2 + x1*x3 + x2*x3", "simulation"].item() == "as it stands"


def test_filters_combine(atlas):
    found = select(atlas, solves="match3", t=3, hyperedges=3)
    assert len(found) and (found["t"] == 3).all() and (found["hyperedges"] == 3).all()
    assert (found["match3"] == "yes").all()
    assert select(atlas, solves="match3", cheapest=True)["mechanism"].tolist() == ["x1*x2 + x1*x3 + x2*x3"]


def test_bad_questions_are_refused(atlas):
    with pytest.raises(PolyError, match="unknown task"):
        select(atlas, solves="match4")
    with pytest.raises(PolyError, match="finite"):
        select(atlas, exponent="nan")
    with pytest.raises(PolyError):
        select(atlas, simulates="x2*x3")
    with pytest.raises(PolyError, match="no atlas folder"):
        polyth.atlas.load("/nonexistent/atlas")


def test_cli_query_json_and_table(capsys):
    assert main(["atlas", "query", "--solves", "compose:3", "--cheapest", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["mechanism"] for r in records] == ["x1*x2 + x2*x3 + x3*x4"]
    assert records[0]["compose3"] == "yes" and "path" in records[0]["compose3_reason"]
    assert main(["atlas", "query", "--solves", "compose:3", "--cheapest"]) == 0
    table = capsys.readouterr().out
    assert "x1*x2 + x2*x3 + x3*x4" in table and "1 of" in table
    assert main(["atlas", "query", "--simulates", "strassen", "--t", "3"]) == 0
    assert "as it stands" in capsys.readouterr().out


def test_cli_summary(capsys):
    assert main(["atlas", "summary", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mechanisms"] == sum(f["mechanisms"] for f in data["families"])
    for line in data["only_trees_are_quadratic"]:
        assert line["as expected"] == line["mechanisms"], line
    assert main(["atlas", "summary"]) == 0
    assert "only trees are quadratic" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["atlas", "query", "--solves", "match4"], "unknown task"),
        (["atlas", "query", "--atlas", "/nonexistent"], "no atlas folder"),
        (["atlas", "build", "--t", "9", "--serial"], "t must be"),
        (["atlas", "build", "--t", "4", "--hyperedges", "4"], "invalid choice"),
    ],
)
def test_cli_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyth: error:") and message in err and len(err.strip().splitlines()) == 1


def test_cli_build(tmp_path, capsys):
    assert main(["atlas", "build", "--t", "3", "--serial", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2/2 partitions" in out and "left ~" in out and "4 mechanisms" in out
    frame = polyth.atlas.load(tmp_path)
    assert frame["mechanism"].tolist() == [
        "x1*x2",
        "x1*x2 + x1*x3",
        "x1*x2 + x2*x3",
        "x1*x2 + x1*x3 + x2*x3",
    ]
