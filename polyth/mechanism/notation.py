"""The researcher's notation: polyth's formulas as terminal mathematics and as LaTeX.

Everything polyth shows a person (``polyth bounds``, :meth:`Mechanism.describe`,
:meth:`Bounds.latex <polyth.theory.bounds.Bounds.latex>`, the report, the notebooks) is written
by :func:`text` or :func:`latex`, so that one convention holds everywhere (docs/design.md,
Notation):

* a number is juxtaposed with what it multiplies, other factors are joined by ``·``:
  ``2d``, ``n²·(d + d_v)``; LaTeX juxtaposes everything (``2 d``, ``n^{2} \\left(…\\right)``);
* an integer power is a superscript on the terminal (``n²``, ``r³``); any other exponent follows
  ``^``, parenthesised unless it is one symbol or number: ``n^ω``, ``n^(ω + 1)``,
  ``(log n)^(1/2)``; never ``sqrt`` and never ``**``;
* ω is the matrix-multiplication exponent (``\\omega``), d_v the value width (``d_{v}``), x1 a
  variable (``x_{1}``);
* a sum that depends on n lists its terms by decreasing power of n (dominant at ω = 2, then
  at ω = 3), each power once, with its coefficient in d, d_v and the ranks:
  ``n^ω·(d_v + 1) + n²·(3d + 3d_v + 7) + n·d_v``.

Values shown beside a label mix prose and formulas: a :class:`Phrase` holds them in reading
order (prose as ``str``, formulas as sympy expressions, hand-written formulas as :class:`Math`)
and has both spellings. Prose may write a superscript TeX-style, ``(log n)^{1/k}``: the
terminal shows ``(log n)^(1/k)``, LaTeX a superscript.

This module is the inverse of :mod:`polyth.mechanism.parse` (text to sympy) and, like it, is
sympy and plain strings only.

Example::

    >>> import sympy
    >>> n, d, dv, omega = sympy.symbols("n d dv omega", positive=True)
    >>> text(n**2 * (2*d + 2*dv + 5) + n**omega)
    'n^ω + n²·(2d + 2d_v + 5)'
    >>> latex(n**(omega + 1))
    'n^{\\\\omega + 1}'
    >>> text(Phrase("B* ~ ", sympy.log(n) ** sympy.Rational(1, 2)))
    'B* ~ (log n)^(1/2)'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sympy

# Symbols whose written form is not their sympy name: (terminal, LaTeX).
_SYMBOLS = {"omega": ("ω", r"\omega"), "dv": ("d_v", "d_{v}"), "phi": ("φ", r"\varphi")}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# The ordering of terms in n: exponents α + β·ω compared at both ends of ω ∈ [2, 3].
_OMEGA_ENDS = (2, 3)
# Prose: a TeX-style superscript, and the characters LaTeX reads as commands outside \text.
_PROSE_SUPERSCRIPT = re.compile(r"\^\{([^{}]*)\}")
_LATEX_SPECIAL = {
    "\\": r"\backslash ",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "$": r"\$",
    "~": r"\sim ",
    "^": r"\hat{}",
}
_LATEX_SPECIAL_RUN = re.compile("[" + re.escape("".join(_LATEX_SPECIAL)) + "]")
# Unicode mathematics inside a superscript of prose, in LaTeX's words.
_UNICODE_MATH = str.maketrans({"ω": r"\omega ", "−": "-", "·": r"\cdot ", "≥": r"\geq ", "≤": r"\leq "})


@dataclass(frozen=True)
class Math:
    """A hand-written formula with its two spellings, e.g. ``Math("B* ~ ", r"B^* \\sim ")``."""

    plain: str
    tex: str


class Phrase(tuple):
    """A displayed value in reading order: prose (``str``), formulas (sympy) and :class:`Math`.

    ``str(phrase)`` is the terminal form, :meth:`latex` the LaTeX form (prose in ``\\text``).

        >>> import sympy
        >>> str(Phrase("≥ ", sympy.Symbol("n") ** 2, " (SETH)"))
        '≥ n² (SETH)'
    """

    def __new__(cls, *pieces: str | sympy.Basic | Math | Phrase):
        return super().__new__(cls, pieces)

    def __str__(self) -> str:
        return "".join(text(piece) for piece in self)

    def latex(self) -> str:
        return "".join(latex(piece) for piece in self)


Displayable = str | sympy.Basic | Math | Phrase | int | float


def text(value: Displayable, order: Sequence[str] = ()) -> str:
    """The terminal form of a formula, a prose string, a :class:`Math` or a :class:`Phrase`.

    ``order`` names symbols that come first, in that order, in products and sums (a mechanism's
    variables, query first); the other symbols follow in natural order (x2 before x10).
    """
    if isinstance(value, Phrase):
        return str(value)
    if isinstance(value, Math):
        return value.plain
    if isinstance(value, str):
        return _PROSE_SUPERSCRIPT.sub(lambda match: "^" + _text_exponent_string(match[1]), value)
    return _write(sympy.sympify(value), _Text(order))


def latex(value: Displayable, order: Sequence[str] = ()) -> str:
    """The LaTeX form (math mode, no ``$``) of what :func:`text` writes for the terminal."""
    if isinstance(value, Phrase):
        return value.latex()
    if isinstance(value, Math):
        return value.tex
    if isinstance(value, str):
        return _prose_latex(value)
    return _write(sympy.sympify(value), _Latex(order))


# --------------------------------------------------------------------------- prose
def _text_exponent_string(exponent: str) -> str:
    return exponent if len(exponent) == 1 else f"({exponent})"


def _prose_latex(prose: str) -> str:
    """Prose in ``\\text{…}``; superscripts and LaTeX's special characters in math mode."""
    out = []
    position = 0
    for match in _PROSE_SUPERSCRIPT.finditer(prose):
        out.append(_text_latex(prose[position : match.start()]))
        out.append("^{" + match[1].translate(_UNICODE_MATH).strip() + "}")
        position = match.end()
    out.append(_text_latex(prose[position:]))
    return "".join(out)


def _text_latex(prose: str) -> str:
    out = []
    position = 0
    for match in _LATEX_SPECIAL_RUN.finditer(prose):
        if match.start() > position:
            out.append(r"\text{" + prose[position : match.start()] + "}")
        out.append(_LATEX_SPECIAL[match[0]])
        position = match.end()
    if position < len(prose):
        out.append(r"\text{" + prose[position:] + "}")
    return "".join(out)


# --------------------------------------------------------------------------- formulas
class _Style:
    """How one notation writes the atoms; the structure is shared (:func:`_write`). ``order``: the
    symbols ranked first."""

    def __init__(self, order: Sequence[str] = ()):
        self.rank = {name: i for i, name in enumerate(order)}

    def symbol(self, name: str) -> str:
        raise NotImplementedError

    def fraction(self, numerator: str, denominator: str, composite: tuple[bool, bool]) -> str:
        """``composite``: whether the numerator is a sum and the denominator more than a symbol or a
        number (on one line they need parentheses)."""
        raise NotImplementedError

    def log(self, argument: str, atomic: bool) -> str:
        raise NotImplementedError

    def group(self, inner: str) -> str:
        raise NotImplementedError

    def power(self, base: str, exponent: sympy.Expr) -> str:
        raise NotImplementedError

    def product(self, factors: list[str], number: str | None) -> str:
        raise NotImplementedError

    def function(self, name: str, arguments: list[str]) -> str:
        raise NotImplementedError

    def other(self, expr: sympy.Basic) -> str:
        """Anything polyth does not produce, in sympy's own spelling."""
        raise NotImplementedError


class _Text(_Style):
    def symbol(self, name: str) -> str:
        return _SYMBOLS.get(name, (name, None))[0]

    def fraction(self, numerator: str, denominator: str, composite: tuple[bool, bool]) -> str:
        top, bottom = (self.group(s) if c else s for s, c in zip((numerator, denominator), composite))
        return f"{top}/{bottom}"

    def log(self, argument: str, atomic: bool) -> str:
        return f"log {argument}" if atomic else f"log{self.group(argument)}"

    def group(self, inner: str) -> str:
        return f"({inner})"

    def power(self, base: str, exponent: sympy.Expr) -> str:
        if exponent.is_Integer and exponent > 0:
            return base + str(exponent).translate(_SUPERSCRIPT)
        written = _write(exponent, self)
        return f"{base}^{written}" if _is_atom(exponent) else f"{base}^({written})"

    def product(self, factors: list[str], number: str | None) -> str:
        joined = "·".join(factors)
        if number is None:
            return joined
        # a number before a letter reads as a product (2d); before a digit it needs the dot
        return number + ("·" if joined[:1].isdigit() else "") + joined

    def function(self, name: str, arguments: list[str]) -> str:
        return f"{name}({', '.join(arguments)})"

    def other(self, expr: sympy.Basic) -> str:
        return sympy.sstr(expr)


class _Latex(_Style):
    def symbol(self, name: str) -> str:
        if name in _SYMBOLS:
            return _SYMBOLS[name][1]
        return sympy.latex(sympy.Symbol(name))

    def fraction(self, numerator: str, denominator: str, composite: tuple[bool, bool]) -> str:
        return rf"\frac{{{numerator}}}{{{denominator}}}"

    def log(self, argument: str, atomic: bool) -> str:
        return rf"\log {argument}" if atomic else rf"\log{self.group(argument)}"

    def group(self, inner: str) -> str:
        return rf"\left({inner}\right)"

    def power(self, base: str, exponent: sympy.Expr) -> str:
        written = _write(exponent, self) if not exponent.is_Rational else str(exponent)
        return f"{base}^{{{written}}}"

    def product(self, factors: list[str], number: str | None) -> str:
        return " ".join(([number] if number is not None else []) + factors)

    def function(self, name: str, arguments: list[str]) -> str:
        if name in ("max", "min"):
            return rf"\{name}\left({', '.join(arguments)}\right)"
        if name == "C" and len(arguments) == 2:
            return rf"\binom{{{arguments[0]}}}{{{arguments[1]}}}"
        return rf"\operatorname{{{name}}}\left({', '.join(arguments)}\right)"

    def other(self, expr: sympy.Basic) -> str:
        return sympy.latex(expr)


def _is_atom(expr: sympy.Expr) -> bool:
    return expr.is_Symbol or (expr.is_Integer and expr >= 0)


def _number(value: sympy.Expr) -> str:
    if value.is_Integer:
        return str(value)
    return f"{float(value):g}"


def _n_symbol(expr: sympy.Expr) -> sympy.Symbol | None:
    return next((s for s in expr.free_symbols if s.name == "n"), None)


def _factor_key(factor: sympy.Expr, rank: dict[str, int]) -> tuple:
    """Ranked symbols first, then symbols (and their powers) in natural order of their names, x2
    before x10; the rest after."""
    base = factor.base if factor.is_Pow else factor
    if base.is_Symbol and base.name in rank:
        return (-1, rank[base.name])
    if base.is_Symbol:
        parts = re.split(r"(\d+)", base.name)
        return (0, tuple((int(p), "") if p.isdigit() else (0, p) for p in parts))
    return (1, sympy.sstr(factor))


def _term_key(term: sympy.Expr, rank: dict[str, int]) -> tuple:
    """Terms of a polynomial: higher degree first, then by their symbols in order."""
    powers = [(b, e) for b, e in term.as_powers_dict().items() if not b.is_Number]
    degree = sum(int(e) for _, e in powers if e.is_Integer)
    return (-degree, sorted((_factor_key(b, rank), -int(e) if e.is_Integer else 0) for b, e in powers))


def _ordered_terms(expr: sympy.Add, rank: dict[str, int]) -> list[sympy.Expr]:
    """The terms of a sum: grouped by power of n, dominant power first; without n, higher degree first."""
    n = _n_symbol(expr)
    if n is None:
        return sorted(sympy.Add.make_args(expr), key=lambda term: _term_key(term, rank))
    groups: dict[sympy.Expr, sympy.Expr] = {}
    for term in sympy.Add.make_args(sympy.expand(expr, power_exp=False)):
        coefficient, exponent = sympy.powsimp(term).as_coeff_exponent(n)
        groups[exponent] = groups.get(exponent, sympy.Integer(0)) + coefficient

    def dominance(exponent: sympy.Expr) -> tuple[float, ...]:
        omega = [s for s in exponent.free_symbols if s.name == "omega"]
        ends = []
        for end in _OMEGA_ENDS:
            value = exponent.subs({w: end for w in omega})
            if not value.is_number:  # ω(a, b, c) of a rectangular product: order by its classical a + b + c
                value = value.replace(lambda e: isinstance(e, sympy.Function), lambda e: sympy.Add(*e.args))
            ends.append(-float(value))
        return tuple(ends)

    terms = []
    for exponent in sorted(groups, key=lambda e: (dominance(e), sympy.default_sort_key(e))):
        coefficient = groups[exponent]
        if exponent == 0:
            terms += sorted(sympy.Add.make_args(coefficient), key=lambda term: _term_key(term, rank))
        elif coefficient.could_extract_minus_sign():
            terms.append(-(n**exponent * -coefficient))
        elif coefficient != 0:
            terms.append(n**exponent * coefficient)
    return terms


def _write(expr: sympy.Expr, style: _Style) -> str:
    """``expr`` in ``style``: the structure (order, signs, grouping) is the same for both styles."""
    if expr.is_Add:
        return _write_sum(_ordered_terms(expr, style.rank), style)
    if expr.is_Mul or (expr.is_Pow and expr.exp.is_negative) or (expr.is_Rational and not expr.is_Integer):
        return _write_product(expr, style)
    if expr.is_Pow:
        return style.power(_write_base(expr.base, style), expr.exp)
    if expr.is_Symbol:
        return style.symbol(expr.name)
    if expr.is_Number:
        return _number(expr) if expr >= 0 else "-" + _number(-expr)
    if isinstance(expr, sympy.log):
        return style.log(_write(expr.args[0], style), _is_atom(expr.args[0]))
    if isinstance(expr, (sympy.Max, sympy.Min)):
        name = "max" if isinstance(expr, sympy.Max) else "min"
        return style.function(name, [_write(a, style) for a in sorted(expr.args, key=sympy.default_sort_key)])
    if isinstance(expr, sympy.binomial):
        return style.function("C", [_write(a, style) for a in expr.args])
    if isinstance(expr, sympy.Function):
        arguments = [_write(a, style) for a in expr.args]
        symbol = getattr(type(expr), "notation_symbol", None)  # e.g. ω(1, 1, 2): a symbol with arguments
        if symbol is not None:
            return style.symbol(symbol) + style.group(", ".join(arguments))
        return style.function(type(expr).__name__, arguments)
    return style.other(expr)


def _write_sum(terms: list[sympy.Expr], style: _Style) -> str:
    out = ""
    for i, term in enumerate(terms):
        negative = term.could_extract_minus_sign()
        body = _write(-term if negative else term, style)
        if i == 0:
            out = ("-" if negative else "") + body
        else:
            out += (" - " if negative else " + ") + body
    return out


def _write_base(base: sympy.Expr, style: _Style) -> str:
    inner = _write(base, style)
    return inner if _is_atom(base) else style.group(inner)


def _write_factor(factor: sympy.Expr, style: _Style) -> str:
    inner = _write(factor, style)
    return style.group(inner) if factor.is_Add else inner


def _write_product(expr: sympy.Expr, style: _Style) -> str:
    """A product: its number, then a power of n, then the other factors; a denominator last."""
    expr = sympy.powsimp(expr)  # n^ω/n is n^(ω - 1)
    number, rest = expr.as_coeff_Mul()
    if number < 0:
        return "-" + _write_product(-expr, style)
    above, below = [], []
    for factor in sympy.Mul.make_args(rest):
        inverse = factor.is_Pow and factor.exp.is_number and factor.exp.is_negative
        (below if inverse else above).append(1 / factor if inverse else factor)
    top, bottom = (number.p, number.q) if number.is_Rational else (number, 1)
    numerator, denominator = sympy.Mul(top, *above), sympy.Mul(bottom, *below)
    if denominator != 1:
        composite = (numerator.is_Add, not _is_atom(denominator))
        return style.fraction(_write(numerator, style), _write(denominator, style), composite)
    n = _n_symbol(expr)

    def placement(factor: sympy.Expr) -> tuple:
        in_n = n is not None and (factor == n or (factor.is_Pow and factor.base == n))
        return (not in_n, factor.is_Add, _factor_key(factor, style.rank))

    written = [_write_factor(f, style) for f in sorted(above, key=placement) if f != 1]
    if not written:
        return _number(number)
    return style.product(written, None if number == 1 else _number(number))
