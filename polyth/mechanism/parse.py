"""Safe parsing of attention polynomials.

User text is never executed: no ``eval``, no ``sympify`` of raw strings. A
small tokenizer and recursive-descent parser accept exactly

    expr   := term (('+' | '-') term)*
    term   := unary ('*' unary)*
    unary  := ('+' | '-') unary | power
    power  := atom (('**' | '^') INTEGER)?
    atom   := NUMBER | VARIABLE | '(' expr ')'

and build the sympy expression from that tree with sympy constructors. A sympy
expression given directly goes through the same whitelist (:func:`check_expr`):
only ``Add``, ``Mul``, ``Pow`` with a non-negative integer exponent, the
variable symbols and real numbers. Before anything is expanded, the degree and
the number of monomials the expansion can produce are bounded, so that
``(x1 + x2)**1000`` is refused instead of hanging.
"""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from math import comb

import sympy

from polyth.errors import PolyError

MAX_TEXT_LENGTH = 10_000
MAX_DEGREE = 24
MAX_TERMS = 20_000
MAX_NESTING = 64
MAX_NUMBER_LENGTH = 64  # longer literals carry no more float64 precision
_FLOAT_MAX = Fraction(sys.float_info.max)
VARIABLE_PATTERN = re.compile(r"x[1-9][0-9]{0,3}\Z")

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<op>\*\*|[-+*/^()])
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Parser:
    def __init__(self, text: str, allowed_names: set[str] | None):
        self.text = text
        self.allowed = allowed_names
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.depth = 0
        self.symbols: dict[str, sympy.Symbol] = {}

    def _tokenize(self, text: str) -> list[tuple[str, str, int]]:
        tokens = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup
            if kind is None:  # trailing whitespace
                continue
            value = match.group(kind)
            column = match.start(kind)
            if kind == "bad":
                raise PolyError(
                    f"unexpected character {value!r} at column {column + 1} of the polynomial; "
                    "only variables, numbers, + - * ** and parentheses are allowed"
                )
            tokens.append((kind, value, column))
        return tokens

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str, int]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _where(self) -> str:
        token = self._peek()
        return "at the end" if token is None else f"at column {token[2] + 1} ({token[1]!r})"

    def parse(self) -> sympy.Expr:
        if not self.tokens:
            raise PolyError("the polynomial is empty; write one such as 'x1*x2 + x2*x3'")
        expr = self._expr()
        if self._peek() is not None:
            raise PolyError(f"unexpected {self._where()} in the polynomial")
        return expr

    def _expr(self) -> sympy.Expr:
        terms = [self._term()]
        while (token := self._peek()) is not None and token[1] in "+-" and token[0] == "op":
            self._take()
            term = self._term()
            terms.append(term if token[1] == "+" else -term)
        return sympy.Add(*terms)

    def _term(self) -> sympy.Expr:
        factors = [self._unary()]
        while (token := self._peek()) is not None and token[0] == "op" and token[1] in "*/":
            if token[1] == "/":
                raise PolyError(
                    f"division at column {token[2] + 1} is not allowed: an attention "
                    "polynomial is a sum of products of variables with real coefficients"
                )
            self._take()
            factors.append(self._unary())
        return sympy.Mul(*factors)

    def _unary(self) -> sympy.Expr:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in "+-":
            self._take()
            self._enter()
            inner = self._unary()
            self.depth -= 1
            return inner if token[1] == "+" else -inner
        return self._power()

    def _power(self) -> sympy.Expr:
        base = self._atom()
        token = self._peek()
        if token is None or token[0] != "op" or token[1] not in ("**", "^"):
            return base
        self._take()
        exponent = self._peek()
        if exponent is None:
            raise PolyError("the polynomial ends after '**'; write an exponent such as x1**2")
        if exponent[0] != "number" or not exponent[1].isdigit():
            raise PolyError(
                f"exponent {self._exponent_text()!r} at column {exponent[2] + 1} is not allowed: "
                "exponents must be non-negative integer literals, as in x1**2"
            )
        self._take()
        power = int(exponent[1])
        if power > MAX_DEGREE:
            raise PolyError(
                f"exponent {power} at column {exponent[2] + 1} exceeds the maximum degree {MAX_DEGREE}"
            )
        return sympy.Pow(base, power)

    def _exponent_text(self) -> str:
        rest = self.text[self._peek()[2] :]
        return _shorten(rest.split()[0] if rest.split() else rest, 20)

    def _atom(self) -> sympy.Expr:
        token = self._peek()
        if token is None:
            raise PolyError("the polynomial ends where a variable, number or '(' was expected")
        kind, value, column = token
        if kind == "number":
            self._take()
            return _number(value, column)
        if kind == "name":
            self._take()
            following = self._peek()
            if following is not None and following[1] == "(":
                raise PolyError(
                    f"function call {value}(...) at column {column + 1} is not allowed: "
                    "attention polynomials use only + - * ** on variables and numbers"
                )
            return self._symbol(value, column)
        if value == "(":
            self._take()
            self._enter()
            inner = self._expr()
            self.depth -= 1
            closing = self._peek()
            if closing is None or closing[1] != ")":
                raise PolyError(f"missing ')' {self._where()} for '(' at column {column + 1}")
            self._take()
            return inner
        raise PolyError(f"unexpected {value!r} at column {column + 1} of the polynomial")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise PolyError(f"the polynomial nests deeper than {MAX_NESTING} levels")

    def _symbol(self, name: str, column: int) -> sympy.Symbol:
        known = name in self.allowed if self.allowed is not None else VARIABLE_PATTERN.match(name)
        if not known:
            hint = (
                f"the variables are {', '.join(sorted(self.allowed))}"
                if self.allowed is not None
                else "variables are named x1, x2, …, x1 being the query"
            )
            raise PolyError(f"unknown symbol {name!r} at column {column + 1}: {hint}")
        if name not in self.symbols:
            self.symbols[name] = sympy.Symbol(name, real=True)
        return self.symbols[name]


def _number(text: str, column: int) -> sympy.Rational:
    if len(text) > MAX_NUMBER_LENGTH:
        raise PolyError(
            f"number {_shorten(text, 20)!r} at column {column + 1} has more than "
            f"{MAX_NUMBER_LENGTH} characters; write it in scientific notation such as 1.5e-3"
        )
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > 300:
        raise PolyError(f"number {text!r} at column {column + 1} is out of the float64 range")
    value = Fraction(text)
    if abs(value) > _FLOAT_MAX:
        raise PolyError(f"number {_shorten(text, 20)!r} at column {column + 1} is out of the float64 range")
    return sympy.Rational(value.numerator, value.denominator)


def parse_polynomial(text: str, variables: list[str] | None = None) -> sympy.Expr:
    """Parse ``text`` into a sympy expression without executing any of it.

    ``variables`` restricts the accepted names; by default names ``x1``, ``x2``, … are
    accepted. Raises :class:`PolyError` naming the offending part.
    """
    if not isinstance(text, str):
        raise PolyError(f"expected a polynomial as text or a sympy expression, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise PolyError(
            f"the polynomial text has {len(text)} characters, more than the limit {MAX_TEXT_LENGTH}"
        )
    allowed = None
    if variables is not None:
        allowed = set(variables)
        for name in allowed:
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", name):
                raise PolyError(f"variable name {name!r} is not an identifier")
    return _Parser(text, allowed).parse()


def check_expr(expr: sympy.Basic) -> tuple[int, int]:
    """Walk a sympy expression, accepting only the polynomial whitelist.

    Returns upper bounds ``(degree, number of monomials)`` of its expansion and raises
    :class:`PolyError` when either exceeds the limits or a node is not allowed.
    """

    def walk(node: sympy.Basic, depth: int) -> tuple[int, int]:
        if depth > 4 * MAX_NESTING:
            raise PolyError("the expression nests too deeply")
        if isinstance(node, sympy.Symbol):
            return 1, 1
        if isinstance(node, sympy.Number):
            if not node.is_real or not node.is_finite:
                raise PolyError(f"coefficient {node} is not a finite real number")
            return 0, 1
        if isinstance(node, sympy.Add):
            parts = [walk(arg, depth + 1) for arg in node.args]
            return max(p[0] for p in parts), sum(p[1] for p in parts)
        if isinstance(node, sympy.Mul):
            degree, terms = 0, 1
            for arg in node.args:
                d, n = walk(arg, depth + 1)
                degree, terms = degree + d, terms * n
                _check_size(degree, terms)
            return degree, terms
        if isinstance(node, sympy.Pow):
            exponent = node.exp
            if not (isinstance(exponent, sympy.Integer) and exponent >= 0):
                raise PolyError(
                    f"exponent {exponent} in {_shorten(str(node))} is not allowed: exponents "
                    "must be non-negative integers"
                )
            d, n = walk(node.base, depth + 1)
            p = int(exponent)
            if d * p > MAX_DEGREE:
                raise PolyError(
                    f"{_shorten(str(node))} has degree {d * p}, more than the maximum {MAX_DEGREE}"
                )
            terms = comb(n + p - 1, p) if n > 1 else 1
            _check_size(d * p, terms)
            return d * p, terms
        raise PolyError(
            f"{_shorten(str(node))} is not allowed in an attention polynomial: only sums and "
            "products of variables and real numbers, with non-negative integer powers"
        )

    return walk(expr, 0)


def _check_size(degree: int, terms: int) -> None:
    if degree > MAX_DEGREE:
        raise PolyError(f"the polynomial has degree {degree}, more than the maximum {MAX_DEGREE}")
    if terms > MAX_TERMS:
        raise PolyError(
            f"expanding the polynomial could give {terms} monomials, more than the limit {MAX_TERMS}"
        )
