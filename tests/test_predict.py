"""Solvability predictions: the zoo's answers, simulations checked numerically, the CLI, the table."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth import Mechanism, reference, zoo
from polyth.cli.main import main
from polyth.errors import InputError
from polyth.tasks.predict import TASKS, predict
from polyth.theory.reductions import reduction

ROOT = Path(__file__).resolve().parents[1]


def answers(spec) -> dict[str, str]:
    return {p.task: p.answer for p in predict(spec)}


EXPECTED = {
    "self": {"match2": "yes", "match3": "no", "compose:1": "yes", "compose:2": "no", "compose:3": "no"},
    "path:3": {"match2": "yes", "match3": "unknown", "compose:2": "yes", "compose:3": "no"},
    "path:4": {"compose:3": "yes", "compose:4": "unknown"},
    "path:5": {"compose:4": "yes", "match3": "unknown"},
    "star:4": {"match2": "yes", "compose:1": "yes", "compose:2": "unknown"},
    "strassen": {"match2": "yes", "match3": "yes", "compose:2": "yes", "compose:3": "no", "compose:4": "no"},
    "tensor:3": {"match2": "yes", "match3": "yes", "compose:2": "yes", "compose:3": "no", "compose:4": "no"},
    "clique:4": {"match3": "yes", "compose:3": "yes", "compose:4": "unknown"},
    "x1*x2 + x2*x3 + x3*x4 + x2*x5": {"compose:3": "yes", "compose:4": "unknown", "match3": "unknown"},
}


@pytest.mark.parametrize("spec", list(EXPECTED))
def test_zoo_predictions(spec):
    got = answers(spec)
    assert set(got) == set(TASKS)
    for task, answer in EXPECTED[spec].items():
        assert got[task] == answer, (spec, task, got[task])


def test_every_answer_has_a_reason_and_yes_no_a_source():
    for spec in ["self", "path:4", "star:4", "strassen", "tensor:3", "cycle:4", "clique:4"]:
        for p in predict(spec):
            assert p.answer in ("yes", "no", "unknown") and p.reason
            if p.answer == "unknown":
                assert p.reason.startswith("no known result") and p.source == ""
            else:
                assert p.source and p.heads_note


def test_reasons_quote_the_results():
    by_task = {p.task: p for p in predict("self")}
    assert "H(d+1)p ≥ n log n" in by_task["compose:2"].reason
    assert "Peng" in by_task["compose:2"].source
    assert "f_3 the identity" in by_task["compose:3"].reason
    assert "Sanford" in by_task["match3"].source and "Kozachinskiy" in by_task["match3"].source
    strassen = {p.task: p for p in predict("strassen")}
    assert strassen["match3"].heads_note.startswith("2 heads")
    assert "n^{1−o(1)} heads" in strassen["compose:3"].reason
    assert "Chakrabarti" in strassen["compose:3"].source
    assert {p.task: p for p in predict("tensor:3")}["match3"].heads_note == "1 head"


def test_renamed_path_is_path3():
    assert answers("x1*x3 + x3*x2") == answers("path:3")
    assert answers("x2*x1 + x3*x2") == answers("path:3")


def test_the_query_is_fixed_when_matching():
    # x2 is the centre: the path is rooted at a leaf in path:3 but here the query is the centre (a star).
    assert answers("x1*x2 + x1*x3") == answers("star:3")
    assert answers("x1*x2 + x1*x3")["compose:2"] == "unknown"


def test_cycle4_composes_three_through_channel_blocks():
    p = {q.task: q for q in predict("cycle:4")}
    assert p["compose:3"].answer == "yes" and "block" in p["compose:3"].reason
    assert p["compose:4"].answer == "unknown" and p["match3"].answer == "unknown"


def test_negative_results_only_for_the_structure_proved():
    # the exact structure up to coefficients, scale and untied inputs: still "no"
    assert answers("2*x1*x2")["compose:2"] == "no"
    assert answers(zoo.strassen().replace(untied=True, scale=0.5))["compose:3"] == "no"
    # a richer mechanism is not covered by the negative result
    assert answers("x1*x2 + x1*x3")["compose:2"] == "unknown"
    assert answers("x1*x2 + x1*x3")["match3"] == "unknown"


def test_powers_and_non_softmax_similarity_are_unknown():
    assert set(answers("x1**2*x2").values()) == {"unknown"}
    assert set(answers("linear").values()) == {"unknown"}
    assert set(answers("elementwise:4").values()) == {"unknown"}


def test_values_must_cover_the_pattern_values():
    only_leaf = Mechanism.from_polynomial("x1*x2 + x2*x3", values=["x3"])
    assert answers(only_leaf)["compose:2"] == "unknown"
    assert answers(only_leaf)["compose:1"] == "unknown"


def test_no_mechanism_is_both_yes_and_no():
    for spec in ["self", "path:5", "star:5", "strassen", "tensor:3", "tensor:4", "cycle:5", "clique:5"]:
        assert all(p.answer in ("yes", "no", "unknown") for p in predict(spec))


def test_bad_task_is_an_input_error():
    with pytest.raises(InputError, match="unknown task"):
        predict("self", tasks=("match4",))


SIMULATIONS = [
    ("cycle:4", "path:4"),
    ("tensor:3", "strassen"),
    ("tensor:3", "self"),
    ("strassen", "path:3"),
    ("clique:4", "path:4"),
    ("path:5", "path:3"),
    ("x1*x2 + x2*x3 + x3*x4 + x2*x5", "path:4"),
    ("-3*x1*x2 + x2*x3 + 0.5*x1*x3", "path:3"),
    ("x1*x2 + x1*x2*x3", "self"),
    ("tensor:4", "path:4"),
]


@pytest.mark.parametrize("untied", [False, True])
@pytest.mark.parametrize("host,pattern", SIMULATIONS)
def test_simulation_reproduces_the_pattern_output(host, pattern, untied):
    """The claimed simulation is real: lifted inputs give the pattern's attention output (float64)."""
    m = zoo.from_spec(host).replace(untied=untied, scale=None if untied else 0.7)
    p = zoo.from_spec(pattern)
    simulation = reduction(m, p)
    assert simulation is not None
    rng = np.random.default_rng(len(host) + 7 * untied)
    n, d, dv = 5, 3, 2
    Q = [rng.normal(size=(n, d)) for _ in range(p.t)]
    V = {b + 1: rng.normal(size=(n, dv)) for b in p.values}
    Qm, Vm = simulation.lift(Q, V)
    np.testing.assert_allclose(reference.attention(m, Qm, Vm), reference.attention(p, Q, V), atol=1e-12)


@settings(max_examples=25)
@given(st.permutations(range(2, 6)))
def test_predictions_do_not_depend_on_names(order):
    # x1x2 + x2x3 + x3x4 + x2x5 with its non-query variables renamed
    name = {1: "x1", **{old: f"x{new}" for old, new in zip(range(2, 6), order)}}
    text = " + ".join(f"{name[a]}*{name[b]}" for a, b in [(1, 2), (2, 3), (3, 4), (2, 5)])
    assert answers(text) == answers("x1*x2 + x2*x3 + x3*x4 + x2*x5")


# ------------------------------------------------------------------ CLI
def test_cli_table(capsys):
    assert main(["tasks", "predict", "strassen"]) == 0
    out = capsys.readouterr().out
    for text in ("Match3", "compose:3", "Kozachinskiy", "yes", "no"):
        assert text in out


def test_cli_json(capsys):
    assert main(["tasks", "predict", "path:4", "--json", "--task", "compose:3", "--task", "Match3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(p["task"], p["answer"]) for p in data["predictions"]] == [
        ("compose:3", "yes"),
        ("match3", "unknown"),
    ]
    assert data["polynomial"] == "x1*x2 + x2*x3 + x3*x4"


def test_cli_errors_are_one_line(capsys):
    assert main(["tasks", "predict", "self", "--task", "compose:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyth: error: unknown task") and err.count("\n") == 1


# ------------------------------------------------------------------ table
def _solvability_module():
    spec = importlib.util.spec_from_file_location(
        "solvability", ROOT / "papers/poly-attention/solvability.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["solvability"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def _row(document: str, mechanism: str) -> list[str]:
    line = next(r for r in document.splitlines() if r.startswith(f"| {mechanism} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][2:]


def test_table_without_results_says_not_run(tmp_path):
    solvability = _solvability_module()
    document = solvability.build_table(tmp_path)
    cells = dict(zip(TASKS, _row(document, "self")))
    assert cells["match3"] == "no / not run / not run"
    assert document.count("**≠**") == 1 and "None among the results present." in document  # the rules


def test_table_merges_results_and_marks_disagreements(tmp_path):
    solvability = _solvability_module()
    run = {"steps": [0], "loss": [1.0], "accuracy": [0.5], "flops_per_step": 1.0, "seconds_per_step": 0.1}
    constructions = {
        "constructions": [
            {  # spelled as a polynomial: must land on the path:3 row
                "mechanism": "x1*x3 + x3*x2",
                "task": "compose:2",
                "heads": 1,
                "accuracy": [{"n": 64, "accuracy": 1.0}, {"n": 256, "accuracy": 1.0}],
            },
            {
                "mechanism": "strassen",
                "task": "match3",
                "heads": 2,
                "accuracy": [{"n": 64, "accuracy": 1.0}, {"n": 128, "accuracy": 0.97}],
            },
            {"mechanism": "strassen", "task": "relations", "accuracy": [{"n": 9, "accuracy": 1.0}]},
        ]
    }
    training = {
        "runs": [
            *(
                {
                    **run,
                    "model": "tree-1L",
                    "mechanism": "path:3",
                    "task": "compose:2",
                    "seed": s,
                    "final_accuracy": a,
                }
                for s, a in enumerate([1.0, 0.995, 0.4])
            ),  # fmt: skip
            *(
                {
                    **run,
                    "model": "self-1L",
                    "mechanism": "self",
                    "task": "compose:2",
                    "seed": s,
                    "final_accuracy": a,
                }
                for s, a in enumerate([0.999, 0.991, 0.2])
            ),  # fmt: skip
            *(
                {
                    **run,
                    "model": "self-2L",
                    "mechanism": "self",
                    "task": "compose:2",
                    "seed": s,
                    "final_accuracy": 1.0,
                }
                for s in range(2)
            ),  # fmt: skip
        ]
    }
    (tmp_path / "constructions.json").write_text(json.dumps(constructions))
    (tmp_path / "training.json").write_text(json.dumps(training))
    (tmp_path / "training_match3.json").write_text("{not json")
    document = solvability.build_table(tmp_path)

    path3 = dict(zip(TASKS, _row(document, "path:3")))
    assert path3["compose:2"] == "yes / ✓ n ≤ 256 / ✓ 2/3"
    assert path3["compose:3"] == "no / — / —"  # inherited from Strassen and 3-tensor
    self_row = dict(zip(TASKS, _row(document, "self")))
    assert self_row["compose:2"] == "**≠** no / — / ✓ 2/3"  # learned at small n against a "no"
    strassen = dict(zip(TASKS, _row(document, "strassen")))
    assert (
        strassen["match3"].startswith("**≠** yes (2 heads")
        and "✗ 97.0% at n = 128, 2 heads" in strassen["match3"]
    )
    assert "✓" not in strassen["compose:3"] and "≠" not in strassen["compose:3"]
    disagreements = document.split("## Disagreements")[1].split("##")[0]
    assert "**self, compose:2**: prediction no vs learning yes" in disagreements
    assert "**strassen, Match3**: prediction yes vs construction no" in disagreements
    assert "entry bound B too small" in disagreements
    assert "results/training_match3.json: unreadable" in document
    assert document.count("**≠**") == 2 + 1  # two cells, and once in the rules
    assert "self-2L (2 layers) on compose:2: ✓ 2/2" in document
    assert "'relations'" in document  # a task outside the table is noted, not dropped silently


def test_table_script_writes_the_file(tmp_path, capsys):
    solvability = _solvability_module()
    out = solvability.main(["--results", str(tmp_path / "absent"), "--out", str(tmp_path / "s.md")])
    assert out.read_text().startswith("# Solvability")
    assert "wrote" in capsys.readouterr().out
