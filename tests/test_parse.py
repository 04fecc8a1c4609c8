"""The safe polynomial parser: bad input is a PolyError naming the part, and nothing runs."""

import builtins
import contextlib
import importlib
import os
from unittest import mock

import pytest
import sympy
import sympy.parsing.sympy_parser
from hypothesis import given
from hypothesis import strategies as st

import polyth
from polyth import Mechanism, PolyError
from polyth.mechanism.parse import MAX_DEGREE, check_expr, parse_polynomial

x1, x2, x3 = sympy.symbols("x1 x2 x3", real=True)


@contextlib.contextmanager
def nothing_executes():
    """Fail the test if eval, exec, sympify or sympy's string parser is called."""

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/sympify")

    with (
        mock.patch.object(builtins, "eval", forbidden),
        mock.patch.object(builtins, "exec", forbidden),
        mock.patch.object(sympy, "sympify", forbidden),
        mock.patch.object(sympy.parsing.sympy_parser, "parse_expr", forbidden),
    ):
        yield


def test_code_injection_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with nothing_executes(), pytest.raises(PolyError, match=r"unexpected character \"'\" at column 12"):
        Mechanism.from_polynomial("__import__('os').system('touch X')")
    assert not os.path.exists(tmp_path / "X")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("x1**x2", r"exponent 'x2'"),
        ("x1**-1", r"exponent '-1'"),
        ("x1**0.5", r"exponent '0\.5'"),
        ("x1 * x2 ** (1)", r"exponent '\(1\)'"),
        ("sin(x1)", r"function call sin\(\.\.\.\)"),
        ("x1/x2", r"division at column 3"),
        ("x1*y7", r"unknown symbol 'y7' at column 4"),
        ("x1*x0", r"unknown symbol 'x0'"),
        ("", r"empty"),
        ("   ", r"empty"),
        ("x1*x2 +", r"ends where a variable"),
        ("(x1*x2", r"missing '\)'"),
        ("x1*x2)", r"unexpected at column 6"),
        ("x1 x2", r"unexpected at column 4 \('x2'\)"),
        ("x1*x2; x3", r"unexpected character ';' at column 6"),
        ("x1*x2 ** 1000", r"exponent 1000 .* maximum degree"),
        ("x1*x2**", r"ends after '\*\*'"),
        ("1e400*x1*x2", r"out of the float64 range"),
        ("9" * 400 + "*x1*x2", r"more than 64 characters"),
        ("(" * 100 + "x1*x2" + ")" * 100, r"nests deeper"),
    ],
)
def test_bad_text_names_the_part(text, named):
    with nothing_executes(), pytest.raises(PolyError, match=named):
        Mechanism.from_polynomial(text)


def test_one_megabyte_is_refused_before_parsing():
    text = "x1*x2 + " * (2**20 // 8)
    with pytest.raises(PolyError, match=r"1048576 characters, more than the limit"):
        Mechanism.from_polynomial(text)


def test_degree_1000_is_refused():
    with pytest.raises(
        PolyError, match=rf"exponent 1000 at column 5 exceeds the maximum degree {MAX_DEGREE}"
    ):
        Mechanism.from_polynomial("x1**1000*x2")
    with pytest.raises(PolyError, match=rf"x1\*\*999 has degree 999, more than the maximum {MAX_DEGREE}"):
        Mechanism.from_polynomial("*".join(["x1"] * 999) + "*x2")


def test_expansion_blowup_is_refused_without_expanding():
    with pytest.raises(PolyError, match=r"could give \d+ monomials, more than the limit"):
        Mechanism.from_polynomial("(" + " + ".join(f"x{i}" for i in range(1, 17)) + ")**12")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("x2*x3", r"does not contain the query variable x1"),
        ("x2*x3 + 5", r"does not contain the query variable x1"),
        ("x1*x2 + 3", r"constant term"),
        ("7", r"does not contain the query variable x1"),
        ("x1*x2 - x2*x1", r"does not contain the query variable x1"),
        ("x1", r"at least one more variable"),
        ("x1**2", r"at least one more variable"),
    ],
)
def test_polynomials_that_are_not_mechanisms(text, named):
    with pytest.raises(PolyError, match=named):
        Mechanism.from_polynomial(text)


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        (sympy.sin(x1) * x2, r"sin\(x1\) is not allowed"),
        (x1 ** sympy.Rational(1, 2) * x2, r"exponent 1/2 .* non-negative integers"),
        (x1**x2, r"exponent x2"),
        (x2 / x1, r"exponent -1"),
        (sympy.oo * x1 * x2, r"coefficient oo is not a finite real number"),
        (sympy.I * x1 * x2, r"I is not allowed"),
        (sympy.exp(x1 * x2), r"is not allowed"),
        (sympy.Float("1e400") * x1 * x2, r"not a finite float64"),
        ((x1 + x2) ** 30, r"degree 30, more than the maximum"),
    ],
)
def test_sympy_expressions_with_disallowed_nodes(expr, named):
    with pytest.raises(PolyError, match=named):
        Mechanism.from_polynomial(expr)


def test_non_text_input_is_refused():
    with pytest.raises(PolyError, match="got int"):
        Mechanism.from_polynomial(12)
    with pytest.raises(PolyError, match="got list"):
        parse_polynomial(["x1*x2"])


def test_accepted_syntax():
    with nothing_executes():
        assert parse_polynomial("x1*x2 + x2^2*x3 - .5e1*x3") == x1 * x2 + x2**2 * x3 - 5 * x3
        assert parse_polynomial("-(x1 + x2)*+x3") == -(x1 + x2) * x3
        assert parse_polynomial("2*x1*x2", variables=["x1", "x2"]) == 2 * x1 * x2
    assert check_expr(x1 * x2 + x3**3) == (3, 2)


def test_restricted_variable_names():
    q, k = sympy.symbols("q k", real=True)
    assert parse_polynomial("q*k", variables=["q", "k"]) == q * k
    with pytest.raises(PolyError, match=r"unknown symbol 'x1' .* the variables are k, q"):
        parse_polynomial("q*x1", variables=["q", "k"])
    with pytest.raises(PolyError, match="is not an identifier"):
        parse_polynomial("q*k", variables=["q", "k k"])


POLYNOMIAL_ALPHABET = "x0123456789+-*/^().eE \t"
JUNK = ["__import__", "os", "eval", "lambda", ";", "'", '"', "[", "]", "{", "}", "=", "@", "sin", "**", "\\n"]


@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.one_of(st.sampled_from(POLYNOMIAL_ALPHABET), st.sampled_from(JUNK)),
            max_size=40,
        ).map("".join),
    )
)
def test_fuzz_only_polyerror_escapes_and_nothing_runs(text):
    with nothing_executes():
        try:
            m = Mechanism.from_polynomial(text)
        except polyth.PolyError:
            return
    assert m.t >= 2 and 0 in {a for s in m.supports for a in s}


def test_the_guard_catches_sympy_string_parsing():
    """The fuzz guard is not vacuous: sympy's own sympify of a string trips it."""
    with nothing_executes(), pytest.raises(AssertionError, match="reached eval"):
        importlib.import_module("sympy.core.sympify").sympify("x1*x2")
