"""The polyth command line, run in-process through main(argv) and once as the installed script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polyth
from polyth import NumericalError, zoo
from polyth.cli import demo
from polyth.cli.main import COMMANDS, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=2):
    assert code == expected_code
    assert err.startswith("polyth: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"polyth {polyth.__version__}"


def test_every_command_module_registers_a_handler():
    for module in COMMANDS:
        assert callable(module.register)


def test_show_prints_describe(capsys):
    code, out, err = run(capsys, "show", "strassen")
    assert code == 0 and err == ""
    assert out.startswith(zoo.strassen().describe())
    assert "source      Kozachinskiy et al. 2025" in out


def test_show_polynomial(capsys):
    code, out, _ = run(capsys, "show", "x1*x2 + x2*x3")
    assert code == 0
    assert "tree        yes" in out and "source" not in out


def test_show_json(capsys):
    code, out, _ = run(capsys, "show", "path:3", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "path(3)"
    assert data["variables"] == ["x1", "x2", "x3"] and data["values"] == ["x2", "x3"]
    assert data["hyperedges"] == [["x1", "x2"], ["x2", "x3"]]
    assert data["is_tree"] and data["k"] == 2 and data["scale"] is None
    assert data["monomials"][0] == {"coefficient": "1", "value": 1.0, "powers": {"x1": 1, "x2": 1}}
    assert data["source"] == "Chakrabarti, Pitassi, Alman 2026"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["show", "softmax"], "unknown mechanism 'softmax'"),
        (["show", "x1**x2"], "exponent 'x2'"),
        (["show", "__import__('os').system('true')"], "unexpected character"),
        (["show", "path:99"], "between 2 and 16"),
        (["demo", "--n", "1"], "--n must be between 2 and 24"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, named):
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err)
    assert named in err and out == ""


@pytest.mark.parametrize(
    "argv",
    [[], ["nosuchcommand"], ["show"], ["demo", "--n", "abc"], ["show", "self", "--bogus"]],
)
def test_usage_errors_are_one_line_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err)


def test_numerical_errors_are_one_line_exit_1(capsys, monkeypatch):
    def overflow(spec):
        raise NumericalError("a score overflows\nfloat64")

    monkeypatch.setattr(zoo, "from_spec", overflow)
    code, _, err = run(capsys, "show", "self")
    assert_one_line_error(code, err, expected_code=1)
    assert "a score overflows float64" in err


def test_demo_passes(capsys):
    code, out, err = run(capsys, "demo")
    assert code == 0 and err == ""
    assert out.count("  PASS") == len(demo.CASES) == 8
    for spec in [
        "self-attention",
        "path(3)",
        "path(4)",
        "star(4)",
        "strassen",
        "tensor(3)",
        "cycle(4)",
        "clique(4)",
    ]:
        assert f"\n{spec}  (" in out
    assert "reference vs two nested softmaxes" in out
    assert out.rstrip().endswith("PASS: all 8 mechanisms agree with their closed forms (tolerance 1e-10)")


def test_demo_other_sizes_and_seeds(capsys):
    code, out, _ = run(capsys, "demo", "--n", "5", "--d", "3", "--dv", "2", "--seed", "7")
    assert code == 0 and "n = 5, d = 3, d_v = 2" in out


@pytest.mark.parametrize(
    ("spec", "wrong_closed_form"),
    [
        ("path:3", demo.star_product),
        ("star:3", demo.path_nested_softmax),
        ("strassen", demo.graph_einsum([(1, 2), (2, 3)])),
        ("cycle:4", demo.graph_einsum([(1, 2), (2, 3), (3, 4), (1, 3)])),
    ],
)
def test_demo_closed_forms_tell_mechanisms_apart(spec, wrong_closed_form):
    case = demo.DemoCase(spec, wrong_closed_form, "a wrong closed form")
    lines, passed = demo.check(case, np.random.default_rng(0), 6, 4, 2)
    assert not passed and lines[-1].endswith("FAIL")


def test_demo_exits_1_on_a_failure(capsys, monkeypatch):
    monkeypatch.setattr(demo, "CASES", [demo.DemoCase("path:3", demo.star_product, "wrong")])
    code, out, _ = run(capsys, "demo")
    assert code == 1 and "FAIL: 1 of 1 mechanisms disagree" in out


def test_installed_script():
    script = Path(sys.executable).parent / "polyth"
    assert script.exists(), "install the package (pip install -e .) to get the polyth script"
    done = subprocess.run([script, "show", "tensor:3"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "polynomial  h = x1·x2·x3" in done.stdout
    failed = subprocess.run([script, "show", "x1/x2"], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.startswith("polyth: error: division at column 3") and failed.stderr.count("\n") == 1
