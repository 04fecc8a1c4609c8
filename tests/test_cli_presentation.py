"""How the ``polyth`` command reads: widths, help, suggestions, wording, progress, start-up.

Commands run in-process through ``main(argv)`` with ``COLUMNS`` set, as a terminal of that
width would have it (rich and shutil read ``COLUMNS`` when the output is not a terminal).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from polyth.cli import main as cli
from polyth.cli.main import build_parser, main
from polyth.tasks import accuracy, find

WIDTH = 80

# Every command with a table or long lines, at sizes that run in seconds.
WIDE_OUTPUTS = [
    ["bounds", "strassen"],
    ["bounds", "clique:4", "--causal", "prefix"],
    ["bounds", "tensor:3", "--B", "1", "--eps", "1e-3", "--d", "4"],
    ["bounds", "linear"],
    ["bounds", "elementwise:6", "--B", "1", "--eps", "1e-3", "--d", "4"],
    ["bounds", "x1*x2*x3 + x3*x4 + x4*x5 + x5*x6 + x6*x7"],
    ["show", "clique:8"],
    ["show", "tree:1-2,2-3,2-4"],
    ["demo", "--n", "4"],
    ["tasks", "predict", "strassen"],
    ["tasks", "predict", "x1*x2 + x2*x3 + x3*x4"],
    ["tasks", "check", "path:3", "compose:2", "--n", "13", "--instances", "40", "--quiet"],
    ["verify", "approx", "self", "--B", "0.5", "--eps", "0.01", "--n", "16", "--trials", "1", "--quiet"],
    ["verify", "runtime", "self", "--n", "16,32,64", "--repeats", "5", "--d", "4", "--quiet"],
]


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", str(WIDTH))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", WIDE_OUTPUTS, ids=[" ".join(a)[:40] for a in WIDE_OUTPUTS])
def test_output_fits_80_columns(capsys, terminal, argv):
    code, out, _ = run(capsys, *argv)
    assert code in (0, 1), out  # verify exits 1 when a measurement disagrees; the layout is what matters
    too_long = [line for line in out.splitlines() if len(line) > WIDTH]
    assert not too_long, "\n".join(too_long)
    assert not re.search(r"\w\*\*?\w|\bomega\b|\bdv\b", out.replace("'x1*x2", "")), "Python syntax in output"


@pytest.mark.parametrize(
    "argv",
    [
        ["atlas", "query", "--solves", "compose:3", "--cheapest"],
        ["atlas", "query", "--gap"],
        ["atlas", "summary"],
    ],
)
def test_atlas_tables_fit_80_columns(capsys, terminal, argv):
    """Too narrow for a column per field, a query prints one two-column table per mechanism (the
    mechanism stays in the input syntax that the other commands read)."""
    code, out, _ = run(capsys, *argv)
    assert code == 0
    too_long = [line for line in out.splitlines() if len(line) > WIDTH]
    assert not too_long, "\n".join(too_long)
    if "--cheapest" in argv:
        assert "x1*x2 + x2*x3 + x3*x4" in out and "compose3 reason" in out


def test_bounds_strassen_reads_as_mathematics(capsys, terminal):
    code, out, _ = run(capsys, "bounds", "strassen")
    assert code == 0
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if "│" in line
    }
    assert rows["exact cost"] == "n^ω·(d_v + 1) + n²·(3d + 3d_v + 7) + n·d_v"
    assert rows["exact exponent"].startswith("ω: 2.371339 best known (ω = 2.371339), 3 with ω =")
    assert rows["approx threshold"] == "B* ~ (log n)^(1/2)"
    # the memory model's value is checked against measured peak RSS in tests/test_budget.py; here its notation
    assert re.fullmatch(r"n²·\(\d*d_v \+ \d+\) \+ n·\(.*\)", rows["peak memory"]), rows["peak memory"]
    assert not any(line.strip("│ ") == "" for line in out.splitlines()), "an empty row"


def test_tasks_predict_title_does_not_say_one_head(capsys, terminal):
    code, out, _ = run(capsys, "tasks", "predict", "strassen")
    assert code == 0 and "one head" not in out.splitlines()[0] and "2 heads" in out


# --------------------------------------------------------------------------- help
def _parsers(parser: argparse.ArgumentParser, path=("polyth",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_and_command_has_a_help_text():
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                assert all(helps.values()) and len(helps) == len(action.choices), (path, helps)
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                assert action.help and str(action.help % {}).strip() not in ("", "…"), (path, action.dest)


def test_every_help_screen_prints_and_fits(capsys, terminal):
    for path, _ in _parsers(build_parser()):
        code, out, _ = run(capsys, *path[1:], "--help")
        assert code == 0 and out.startswith("usage: polyth"), path
        assert max(len(line) for line in out.splitlines()) <= WIDTH, path


def test_top_level_help_lists_examples_that_parse(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "examples:" in out
    examples = [line.strip().split("  ")[0] for line in out.split("examples:")[1].splitlines()]
    examples = [line for line in examples if line.startswith("polyth ")]
    assert len(examples) >= 6
    for example in examples:
        argv = [a.strip("'") for a in re.findall(r"'[^']*'|\S+", example)][1:]
        build_parser().parse_args(argv)  # raises SystemExit on a usage error


# --------------------------------------------------------------------------- typos
@pytest.mark.parametrize(
    "argv, suggestion",
    [
        (["bonds", "strassen"], "did you mean 'bounds'?"),
        (["bounds", "strassen", "--jsn"], "did you mean '--json'?"),
        (["verify", "runtim", "self"], "did you mean 'runtime'?"),
        (["verify", "runtime", "self", "--method", "exakt"], "did you mean 'exact'?"),
        (["bounds", "self", "--causal", "prefx"], "did you mean 'prefix'?"),
        (["show", "strasen"], "did you mean 'strassen'?"),
        (["bounds", "pth:4"], "did you mean 'path'?"),
        (["tasks", "check", "path:3", "mach3"], "did you mean 'match3'?"),
        (["tasks", "train", "tre-1L", "compose:2"], "did you mean 'tree-1L'?"),
        (["tasks", "predict", "self", "--task", "match4"], "did you mean 'match3'?"),
    ],
)
def test_typos_get_did_you_mean(capsys, argv, suggestion):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("polyth: error: ") and err.count("\n") == 1
    assert suggestion in err


def test_no_suggestion_when_nothing_is_close(capsys):
    code, _, err = run(capsys, "zzzzzz")
    assert code == 2 and "did you mean" not in err


# --------------------------------------------------------------------------- wording
@pytest.mark.parametrize(
    "argv, flag",
    [
        (["bounds", "self", "--B", "1"], "--B and --eps"),
        (["bounds", "self", "--d", "8"], "--d"),
        (["bounds", "strassen", "--causal", "nested"], "--causal prefix"),
        (["verify", "approx", "strassen", "--B", "1", "--eps", "0.01", "--causal", "nested"], "--causal"),
        (["show", "x1*y"], "variables are named x1, x2"),
        (["bounds", "linear", "--B", "1", "--eps", "0.1"], "drop --B and --eps"),
        (["bounds", "self", "--B", "1", "--eps", "2"], "--eps (the relative error per factor) must be"),
        (["verify", "runtime", "self", "--repeats", "2"], "--repeats must be"),
    ],
)
def test_messages_name_command_line_flags_not_python_arguments(capsys, argv, flag):
    code, _, err = run(capsys, *argv)
    assert code == 2 and flag in err
    assert not re.search(r"\b[a-z_]+=(\"|'|\[|\w)", err), err  # no keyword=value of the Python API


def test_flag_wording_keeps_the_rest_of_a_message():
    args = argparse.Namespace(causal=None, method="exact", B=None, eps=None, task="match3", n=None)
    flags = {"--causal", "--method", "--B", "--eps", "--n"}
    cases = {
        'causal="nested" needs a tree; causal="prefix"': "--causal nested needs a tree; --causal prefix",
        'method="approx" needs B=1, not degree=2': "--method approx needs --B 1, not degree=2",
        "drop B and eps": "drop --B and --eps",
        "eps (the relative error) must be in (0, 0.5)": "--eps (the relative error) must be in (0, 0.5)",
        "B and eps do not apply": "--B and --eps do not apply",
        "an entry exceeds B = 1: pass a larger B": "an entry exceeds B = 1: pass a larger --B",
        # prose and mathematics stay: 'task' has no flag, n = 10 is a formula, --causal is not doubled
        "unknown task 'x'; n = 10 != 2·m + 1; --causal": "unknown task 'x'; n = 10 != 2·m + 1; --causal",
    }
    for message, expected in cases.items():
        assert cli.as_flags(message, args, flags) == expected


# --------------------------------------------------------------------------- progress
def test_tasks_check_shows_progress_on_stderr_and_keeps_its_result(capsys):
    argv = ["tasks", "check", "path:3", "compose:2", "--n", "13", "--instances", "600", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and "compose:2, n = 13" in err and "batch" in err
    report = json.loads(out)
    # the batch-by-batch count is the library's accuracy on the same seeded instances
    assert report["accuracy"] == accuracy(find("path:3", "compose:2"), 13, 600, B=report["B"], seed=0)
    code, _, quiet = run(capsys, *argv, "--quiet")
    assert code == 0 and quiet == ""


# --------------------------------------------------------------------------- start-up
def _imported_after(argv: list[str]) -> set[str]:
    program = (
        "import sys, io, contextlib\n"
        "from polyth.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_help_imports_nothing_heavy():
    heavy = {"sympy", "numba", "torch", "rich", "matplotlib", "scipy", "networkx", "polyth_kernels"}
    assert not _imported_after(["--help"]) & heavy


def test_show_imports_only_the_mechanism_layer():
    heavy = {"numba", "torch", "rich", "matplotlib", "scipy", "polyth_kernels", "igraph"}
    assert not _imported_after(["show", "strassen"]) & heavy
