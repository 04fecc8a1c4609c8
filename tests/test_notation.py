"""polyth.mechanism.notation: the engine's formulas as terminal mathematics and as LaTeX.

Expected strings are written by hand from the convention in the module's docstring. The
engine's own expressions are checked for what any of them must satisfy (no Python syntax)
and read back by sympy's parser, an independent reader, to the same expression.
"""

from __future__ import annotations

import re

import pytest
import sympy
from sympy.parsing.sympy_parser import implicit_multiplication, parse_expr, standard_transformations

import polyth
from polyth.mechanism import notation
from polyth.mechanism.notation import Math, Phrase
from polyth.theory import cost as C
from polyth.theory.rectangular import RectangularOmega
from polyth.theory.terms import d, dv, n, omega, r, rank_symbol

x1, x2, x3, x10 = sympy.symbols("x1 x2 x3 x10", real=True)

CASES = [
    # expression, terminal, LaTeX
    (n**2 * (2 * d + 2 * dv + 5), "n²·(2d + 2d_v + 5)", r"n^{2} \left(2 d + 2 d_{v} + 5\right)"),
    (n**omega, "n^ω", r"n^{\omega}"),
    (n ** (omega + 1), "n^(ω + 1)", r"n^{\omega + 1}"),
    (omega, "ω", r"\omega"),
    (omega + 1, "ω + 1", r"\omega + 1"),
    (sympy.Max(2, omega), "max(2, ω)", r"\max\left(2, \omega\right)"),
    (sympy.log(n) ** sympy.Rational(1, 2), "(log n)^(1/2)", r"\left(\log n\right)^{1/2}"),
    (sympy.log(n) ** sympy.Rational(1, 3), "(log n)^(1/3)", r"\left(\log n\right)^{1/3}"),
    (dv, "d_v", "d_{v}"),
    (3 * dv * r**2, "3d_v·r²", r"3 d_{v} r^{2}"),
    (rank_symbol(1) ** 2 * d, "d·r_1²", r"d r_{1}^{2}"),
    (n * dv / 2, "n·d_v/2", r"\frac{n d_{v}}{2}"),
    (sympy.Rational(1, 3), "1/3", r"\frac{1}{3}"),
    # terms by decreasing power of n (at ω = 2, then ω = 3), one coefficient per power
    (
        dv * n + 7 * n**3 + n ** (omega + 1) * (dv + 1),
        "n^(ω + 1)·(d_v + 1) + 7n³ + n·d_v",
        r"n^{\omega + 1} \left(d_{v} + 1\right) + 7 n^{3} + n d_{v}",
    ),
    (2 * dv * n * r + dv * n + 4 * n * r, "n·(2d_v·r + d_v + 4r)", r"n \left(2 d_{v} r + d_{v} + 4 r\right)"),
    (n**2 * (d + 1) - n, "n²·(d + 1) - n", r"n^{2} \left(d + 1\right) - n"),
    (n**omega / n * dv, "n^(ω - 1)·d_v", r"n^{\omega - 1} d_{v}"),
    # polynomials: higher degree first, variables in natural order (x2 before x10)
    (x1 * x2 + x2 * x3, "x1·x2 + x2·x3", "x_{1} x_{2} + x_{2} x_{3}"),
    (x1 * x10 + x1 * x2, "x1·x2 + x1·x10", "x_{1} x_{2} + x_{1} x_{10}"),
    (-((x1 - x2) ** 2).expand(), "-x1² + 2x1·x2 - x2²", "-x_{1}^{2} + 2 x_{1} x_{2} - x_{2}^{2}"),
    (x1 * x2 * x3 + x1 * x2, "x1·x2·x3 + x1·x2", "x_{1} x_{2} x_{3} + x_{1} x_{2}"),
    (sympy.Rational(1, 10) * x1 * x2, "x1·x2/10", r"\frac{x_{1} x_{2}}{10}"),
]


@pytest.mark.parametrize("expr, terminal, tex", CASES, ids=[c[1] for c in CASES])
def test_hand_written_forms(expr, terminal, tex):
    assert notation.text(expr) == terminal
    assert notation.latex(expr) == tex


def read_back(text: str) -> sympy.Expr:
    """The terminal notation read by sympy's parser (an independent reader)."""
    superscripts = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
    text = re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "**" + m[0].translate(superscripts), text)
    text = text.replace("ω(", "RectangularOmega(")  # ω(a, b, c): a rectangular product's exponent
    text = text.replace("·", "*").replace("^", "**").replace("ω", "omega").replace("d_v", "dv")
    text = re.sub(r"log (\w+)", r"log(\1)", text)
    local = {s.name: s for s in (n, d, dv, omega, r)} | {f"r_{i}": rank_symbol(i) for i in range(1, 9)}
    local["RectangularOmega"] = RectangularOmega
    return parse_expr(
        text, local_dict=local, transformations=standard_transformations + (implicit_multiplication,)
    )


def engine_expressions():
    """Every formula ``polyth.bounds`` shows for the zoo, with and without a prefix mask."""
    for spec in polyth.zoo.examples() + ["x1*x2**2 + 3*x2*x3", "0.5*x1*x2 - x2*x3"]:
        for causal in (None, "prefix"):
            b = polyth.bounds(spec, causal=causal)
            yield from (b.cost, b.exponent, C.peak_memory(b.plan), C.cost(b.low_rank), C.exponent(b.low_rank))
            yield from (step.cost for step in b.plan.steps)
            if b.decoding is not None:
                yield from (b.decoding.state_size, b.decoding.per_token, b.decoding.kv_cache_per_token)
            if causal == "prefix":
                yield C.amortised_per_token(b.plan)


ENGINE = list({sympy.srepr(e): e for e in engine_expressions()}.values())


def test_engine_expressions_read_as_mathematics_and_lose_nothing():
    assert len(ENGINE) > 50
    for expr in ENGINE:
        terminal, tex = notation.text(expr), notation.latex(expr)
        assert not re.search(r"\*|omega|\bdv\b|sqrt", terminal), terminal
        assert ("ω" in terminal) == (omega in expr.free_symbols or expr.has(RectangularOmega)), terminal
        assert not re.search(r"\*|\bdv\b|sqrt", tex), tex
        assert sympy.simplify(read_back(terminal) - expr) == 0, (terminal, expr)


def test_phrases_mix_prose_and_formulas():
    phrase = Phrase(Math("≥ ", r"\geq "), n**2, " (SETH; Keles et al. 2023)")
    assert str(phrase) == "≥ n² (SETH; Keles et al. 2023)"
    assert phrase.latex() == r"\geq n^{2}\text{ (SETH; Keles et al. 2023)}"
    threshold = Phrase(Math("B* ~ ", r"B^* \sim "), sympy.log(n) ** sympy.Rational(1, 2))
    assert str(threshold) == "B* ~ (log n)^(1/2)"
    assert threshold.latex() == r"B^* \sim \left(\log n\right)^{1/2}"
    assert str(Phrase(Phrase("a ", n), " b")) == "a n b"  # phrases nest


def test_prose_superscripts_have_one_notation():
    prose = "almost-linear iff B = o((log n)^{1/k}); n^{2-o(1)} time; n^{ω-o(1)}"
    assert notation.text(prose) == "almost-linear iff B = o((log n)^(1/k)); n^(2-o(1)) time; n^(ω-o(1))"
    assert notation.latex(prose) == (
        r"\text{almost-linear iff B = o((log n)}^{1/k}\text{); n}^{2-o(1)}\text{ time; n}^{\omega -o(1)}"
    )


def test_prose_special_characters_are_escaped_in_latex():
    assert notation.latex("tree_message(x2) 50% & #1 {a} $") == (
        r"\text{tree}\_\text{message(x2) 50}\%\text{ }\&\text{ }\#\text{1 }\{\text{a}\}\text{ }\$"
    )


def test_an_order_puts_named_symbols_first():
    q, k, v = sympy.symbols("q k v", real=True)
    assert notation.text(q * k + k * v) == "k·q + k·v"  # natural order by default
    assert notation.text(q * k + k * v, ["q", "k", "v"]) == "q·k + k·v"
    assert notation.latex(v**2 * q, ["q", "k", "v"]) == "q v^{2}"
    m = polyth.Mechanism.from_polynomial(q * k + k * v, variables=["q", "k", "v"], query="q")
    assert m.text() == "h = q·k + k·v" and m.latex() == "h = q k + k v"
