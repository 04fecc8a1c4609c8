"""What a notebook shows: Jupyter's display formatter on a Mechanism and on polyth.bounds(m).

IPython's own formatter computes the MIME bundle a notebook front end receives. A bundle with
both text/markdown and text/latex is rendered as Markdown by JupyterLab (its Markdown renderer
ranks above LaTeX), so the bundle must carry LaTeX and no Markdown. The LaTeX is checked to be
well formed: balanced braces, matched environments, only commands MathJax knows, no Python.
"""

from __future__ import annotations

import re

import pytest

import polyth
from polyth import Mechanism, zoo

IPython = pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

KNOWN_COMMANDS = {
    "begin", "end", "text", "omega", "varphi", "geq", "leq", "sim", "left", "right", "log", "max",
    "min", "frac", "binom", "cdot", "_", "{", "}", "&", "%", "#", "$", "hat", "backslash", "\\",
}  # fmt: skip


def bundle(value) -> dict:
    data, _ = InteractiveShell.instance().display_formatter.format(value)
    return data


def assert_well_formed_latex(tex: str) -> None:
    depth = 0
    for position, character in enumerate(tex):
        escaped = position > 0 and tex[position - 1] == "\\"
        if character == "{" and not escaped:
            depth += 1
        elif character == "}" and not escaped:
            depth -= 1
            assert depth >= 0, f"unbalanced '}}' at {position}: {tex[max(0, position - 40) : position + 1]}"
    assert depth == 0, "unbalanced braces"
    assert re.findall(r"\\begin\{(\w+)\}", tex) == re.findall(r"\\end\{(\w+)\}", tex)
    commands = set(re.findall(r"\\([A-Za-z]+|.)", tex))
    assert commands <= KNOWN_COMMANDS, commands - KNOWN_COMMANDS
    outside_text = re.sub(r"\\text\{[^{}]*\}", "", tex)
    assert not re.search(r"\*\*|\w\*\w|(?<!\\)\bomega\b|\bdv\b|sqrt", outside_text), outside_text


def test_jupyter_shows_a_mechanism_as_latex():
    m = Mechanism.from_polynomial("x1*x2 + 2*x2*x3")
    data = bundle(m)
    assert data["text/latex"] == "$h = x_{1} x_{2} + 2 x_{2} x_{3}$" == f"${m.latex()}$"
    assert "text/markdown" not in data and data["text/plain"] == repr(m)


def test_jupyter_shows_bounds_as_latex():
    b = polyth.bounds("strassen")
    data = bundle(b)
    assert "text/markdown" not in data, "JupyterLab would render the Markdown and hide the LaTeX"
    tex = data["text/latex"]
    assert tex.startswith("$$\\begin{array}{ll}\n") and tex.endswith("\\end{array}$$")
    assert "\\text{lower bound} & \\geq n^{\\omega}" in tex
    assert "\\text{approx threshold} & B^* \\sim \\left(\\log n\\right)^{1/2}" in tex
    assert data["text/plain"] == str(b)  # the readable table, not the dataclass repr
    assert_well_formed_latex(tex[2:-2])


@pytest.mark.parametrize("spec", zoo.examples() + ["x1*x2**2 + 0.5*x2*x3"])
def test_every_zoo_report_is_well_formed_latex(spec):
    for b in (polyth.bounds(spec), polyth.bounds(spec, causal="prefix")):
        tex = b.latex()
        assert_well_formed_latex(tex)
        assert tex.count("\\\\") == len(b.rows())  # one line per row


def test_mechanism_latex_is_well_formed():
    for spec in zoo.examples():
        assert_well_formed_latex(zoo.from_spec(spec).latex())
