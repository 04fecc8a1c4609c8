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
