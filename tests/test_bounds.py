"""Tests of polyth.bounds, the lower-bound registry and the ``polyth bounds`` command."""

from __future__ import annotations

import json
import re

import pytest
import sympy

import polyth
from polyth import InputError, Mechanism, zoo
from polyth.cli.main import main
from polyth.mechanism import notation
from polyth.theory import cost as C
from polyth.theory import lower_bounds as L

# docs/design.md §3, as the engine must give it: spec, causal, exponent, verdict, best bound's hypothesis
TABLE = [
    ("self", None, 2, "tight", "SETH"),
    ("path:3", None, 2, "tight", "SETH"),
    ("path:4", None, 2, "tight", "SETH"),
    ("star:4", None, 2, "tight", "SETH"),
    ("tree:1-2,2-3,2-4,1-5", None, 2, "tight", "SETH"),
    ("strassen", None, C.omega, "tight", "Max-2SAT conjecture"),
    ("tensor:3", None, 3, "tight", "SETH"),
    ("tensor:4", None, 4, "tight", "SETH"),
    ("cycle:4", None, C.omega, "gap", None),
    ("cycle:5", None, C.omega, "gap", None),
    # masked: the unmasked n² bound holds through the unmasking reduction (tests/test_reductions.py)
    ("path:4", "nested", 2, "tight", "SETH"),
    ("path:4", "prefix", C.omega, "gap", "SETH"),  # what the engine finds under a prefix mask
]


@pytest.mark.parametrize("spec,causal,exponent,verdict,hypothesis", TABLE)
def test_design_table_comes_out_of_the_engine(spec, causal, exponent, verdict, hypothesis):
    b = polyth.bounds(spec, causal=causal)
    assert b.exponent == exponent
    assert b.verdict == verdict
    assert b.tight == (verdict == "tight")
    if hypothesis:
        assert b.best_lower.hypothesis == hypothesis
    assert float(b.to_dict()["approx"]["threshold_exponent"]) == pytest.approx(1 / b.mechanism.k)


def test_the_engine_does_not_look_up_names():
    renamed = Mechanism.from_polynomial("x3*x1 + x2*x3 + x1*x2", name="my triangle")
    assert polyth.bounds(renamed).verdict == "tight"
    assert polyth.bounds(renamed).exponent == C.omega


def test_bounds_are_not_extended_beyond_their_structure():
    tensor_plus = Mechanism.from_polynomial("x1*x2*x3 + x1*x2")
    ids = {entry.id for entry in L.applicable(tensor_plus)}
    assert "tensor-seth" not in ids and "non-tree-superquadratic" in ids
    weighted = Mechanism.from_polynomial("2*x1*x2 + x2*x3 + x3*x1")
    assert {entry.id for entry in L.applicable(weighted)} == {"input"}
    # not Strassen as it stands: the bound reaches it through one block of channels per monomial
    weighted_bounds = polyth.bounds(weighted)
    assert weighted_bounds.verdict == "tight" and weighted_bounds.best_lower.id == "strassen-max2sat"
    assert "block of channels per monomial (d × 3)" in weighted_bounds.best_lower.chain
    elementwise = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)
    b = polyth.bounds(elementwise)
    assert b.verdict == "open" and b.exponent == 2
    # a mask keeps the unmasked bounds only where the unmasking reduction applies (values on x2 … xt)
    masked = polyth.bounds("self", causal="prefix")
    assert masked.best_lower.id == "self-attention-seth" and "prefix mask" in masked.best_lower.chain
    value_on_x2 = polyth.bounds(Mechanism.from_polynomial("x1*x2 + x2*x3", values=["x2"]), causal="nested")
    assert [bound.id for bound in value_on_x2.lower] == ["input"] and value_on_x2.verdict == "open"
    assert "self-attention-seth" in {bound.id for bound in value_on_x2.lower_unmasked}


def test_registry_entries_have_sources_and_no_invented_ids():
    for entry in L.REGISTRY:
        assert entry.hypothesis and entry.source and entry.statement
        if "Chakrabarti" in entry.source:
            assert "arXiv:2602.02422" in entry.source
    cited = {entry.source for entry in L.REGISTRY}
    assert any("arXiv:2209.04881" in s for s in cited)
    assert any("arXiv:2302.13214" in s for s in cited)
    assert any("arXiv:2310.04064" in s for s in cited)


def test_json_has_the_promised_fields():
    data = json.loads(polyth.bounds("strassen", B=1.0, eps=1e-3, d=4).to_json())
    assert data["structure"]["is_tree"] is False
    assert sympy.sympify(data["exact"]["exponent"], locals={"omega": C.omega}) == C.omega
    assert data["exact"]["exponent_omega_best"] == pytest.approx(2.371339)
    assert data["exact"]["exponent_omega_3"] == 3
    assert "omega" in data["exact"]["cost"]
    assert data["exact"]["plan"][0]["kind"] == "matmul"
    assert all({"exponent", "hypothesis", "source"} <= set(entry) for entry in data["lower"])
    assert data["tight"] is True
    approx = data["approx"]
    assert approx["threshold_exponent"] == 0.5
    assert approx["degree"] >= 1 and approx["rank"] == sympy.binomial(4 + approx["degree"], approx["degree"])
    assert approx["crossover_n"] is None or approx["crossover_n"] > 1


def test_text_markdown_latex_and_recurrent_form():
    b = polyth.bounds("self", causal="prefix", B=1.0, eps=1e-2, d=4)
    text = str(b)
    for needle in ("exact cost", "lower bound", "verdict", "recurrent form", "crossover"):
        assert needle in text
    markdown = b.markdown()
    assert markdown.startswith("| quantity | value |\n|---|---|\n| mechanism | self-attention: h = x1·x2 |")
    assert f"| exact cost | {notation.text(b.cost)} |" in markdown
    assert not re.search(r"\*\*|\w\*\w|omega|\bdv\b|sqrt", markdown), "Python syntax in the report"
    assert b.latex().startswith("\\begin{array}{ll}") and "\\omega" not in b.latex()
    assert b._repr_latex_() == f"$${b.latex()}$$"
    assert b.recurrent is not None
    # Strassen: x2 is eliminated by a matrix product, n^ω·(d_v + 1) + O(n²) (docs/design.md §3)
    assert (
        "\\text{exact cost} & n^{\\omega} \\left(d_{v} + 1\\right) + n^{2}"
        in polyth.bounds("strassen").latex()
    )


def test_bad_arguments():
    with pytest.raises(InputError, match="both B and eps"):
        polyth.bounds("self", B=1.0)
    with pytest.raises(InputError, match="expected a polyth Mechanism"):
        polyth.bounds(42)


def test_cli_prints_the_table_and_json(capsys):
    assert main(["bounds", "path:4", "--causal", "nested"]) == 0
    assert "tree_message" in capsys.readouterr().out
    assert main(["bounds", "tensor:3", "--B", "1", "--eps", "1e-3", "--d", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exact"]["exponent"] == "3" and data["approx"]["rank"] > 1


@pytest.mark.parametrize(
    "argv",
    [
        ["bounds", "x1*x2 +"],
        ["bounds", "self", "--B", "1"],
        ["bounds", "strassen", "--causal", "nested"],
        ["bounds", "self", "--B", "-1", "--eps", "0.1"],
        ["bounds", "self", "--causal", "suffix"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyth: error:") and err.count("\n") == 1


def test_every_zoo_entry_has_a_report():
    for spec in zoo.examples():
        b = polyth.bounds(spec)
        assert b.verdict in {"tight", "gap", "open"}
        assert str(b)
