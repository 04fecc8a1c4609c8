"""``polyth tasks check``, run in-process through polyth.cli.main."""

from __future__ import annotations

import json

import pytest

from polyth.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_reports_accuracy_and_B(capsys):
    code, out, _ = run(
        capsys, "tasks", "check", "path:3", "compose:2", "--n", "13", "--instances", "60", "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["accuracy"] == 1.0 and report["n"] == 13 and report["instances"] == 60
    assert report["B"] == pytest.approx(report["default_B"]) and report["heads"] == 1
    assert report["entry_bound"] == "sqrt(2·ln n + 1)"


def test_text_report_with_small_B(capsys):
    code, out, _ = run(
        capsys,
        "tasks",
        "check",
        "x1*x2 + x2*x3 + x3*x4",
        "compose:3",
        "--n",
        "13",
        "--instances",
        "80",
        "--B",
        "0.3",
    )
    assert code == 0
    for label in ("accuracy", "n ", "B used", "entry bound", "heads", "embedding dim", "seconds"):
        assert label in out
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy < 1.0


def test_default_n_is_valid_for_the_task(capsys):
    code, out, _ = run(capsys, "tasks", "check", "strassen", "compose:2", "--instances", "2", "--json")
    assert code == 0 and json.loads(out)["n"] == 65


def test_no_construction_exits_3(capsys):
    code, out, err = run(capsys, "tasks", "check", "x1*x2", "compose:2", "--n", "9", "--instances", "5")
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "no construction" in err


def test_a_mechanism_that_simulates_a_construction_runs_it(capsys):
    # the example: the path x1–x3–x4 inside x1x2 + x1x3 + x3x4 composes two functions
    code, out, _ = run(
        capsys, "tasks", "check", "x1*x2 + x1*x3 + x3*x4", "compose:2", "--n", "9", "--instances", "40",
        "--json", "--quiet",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["accuracy"] == 1.0
    assert report["mechanism"] == "x1*x2 + x1*x3 + x3*x4" and report["values"] == ["x2", "x3", "x4"]
    assert report["construction"] == "path:3" and report["d_factor"] == 1
    assert report["chain"] == "read x2 as x3, x3 as x4; set Q(x2) = 0, V(x2) = 1"
    assert [move["kind"] for move in report["moves"]] == ["rename", "delete"]
    assert report["B_lifted"] == pytest.approx(report["B"])  # coefficients 1, one block: B_lift = B
    assert report["max_abs_Q_lifted"] == pytest.approx(report["B_lifted"])


def test_text_names_the_construction_and_the_chain(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one row per line
    code, out, _ = run(
        capsys, "tasks", "check", "tensor:3", "compose:2", "--n", "9", "--instances", "20", "--quiet"
    )
    assert code == 0
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert "path:3" in rows["construction"] and "d × 2" in rows["simulation"]
    assert "2 × (2·(m + 1)" in rows["embedding dim"] and "B_lift" in rows["lifted entries"]
    assert float(rows["accuracy"].split()[1]) == 1.0


def test_no_simulation_for_a_feature_map_exits_3(capsys):
    code, out, err = run(capsys, "tasks", "check", "linear", "compose:1", "--n", "5", "--instances", "5")
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "no simulation applies" in err and "feature map" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("path:3", "compose:x"),
        ("path:3", "match4"),
        ("path:3", "compose:2", "--n", "12"),  # not 2·m + 1
        ("path:3", "compose:2", "--instances", "0"),
        ("x1**", "compose:2"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv):
    code, _, err = run(capsys, "tasks", "check", *argv)
    assert code == 2
    assert err.startswith("polyth: error: ") and err.count("\n") == 1 and "Traceback" not in err


SOLVABILITY_ROWS = [
    "self",
    "path:3",
    "path:4",
    "path:5",
    "star:4",
    "strassen",
    "tensor:3",
    "cycle:4",
    "clique:4",
]
SMALL_N = {"match2": 6, "match3": 6, "compose:1": 7, "compose:2": 9, "compose:3": 10, "compose:4": 13}


@pytest.mark.parametrize("spec", SOLVABILITY_ROWS)
def test_every_yes_of_tasks_predict_is_a_tasks_check_at_100_percent(capsys, spec):
    # the agreement, command against command: predict "yes" ⇒ check exits 0 at accuracy 1;
    # otherwise check exits 3 (no construction, no simulation of one)
    code, out, _ = run(capsys, "tasks", "predict", spec, "--json")
    assert code == 0
    answers = {p["task"]: p["answer"] for p in json.loads(out)["predictions"]}
    assert set(answers) == set(SMALL_N)
    for task, answer in answers.items():
        argv = (
            "tasks",
            "check",
            spec,
            task,
            "--n",
            str(SMALL_N[task]),
            "--instances",
            "6",
            "--json",
            "--quiet",
        )
        code, out, err = run(capsys, *argv)
        if answer == "yes":
            assert code == 0 and json.loads(out)["accuracy"] == 1.0, (spec, task, err)
        else:
            assert code == 3 and out == "", (spec, task, answer)
