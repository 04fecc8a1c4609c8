"""The poly-attention mechanism: an attention polynomial and its hypergraph.

An attention polynomial (Chakrabarti, Pitassi, Alman 2026, Definition 2.2) is

    h = Σ_m c_m · Π_a x_a^(e_{m,a})

over variables x1 … xt standing for token positions l1 … lt, x1 the query. The
score of a tuple l is ``S(l) = scale · Σ_c h(Q(1)[l1,c], …, Q(t)[lt,c])`` (or per
coordinate in per-channel mode) and the output is the softmax-weighted sum of the
element-wise product of the value variables' rows. See docs/design.md §1.

Variables are referred to by their *position* in :attr:`Mechanism.variables`
(0-based inside polyth's data structures; 1-based where users index, as in the
``V`` mapping of :func:`polyth.attention`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import sympy

from polyth.errors import PolyError
from polyth.mechanism.parse import check_expr, parse_polynomial
from polyth.mechanism.similarity import Exp, FeatureMap, Taylor, check_similarity

MAX_VARIABLES = 16


@dataclass(frozen=True)
class Monomial:
    """One term ``coefficient · Π_a x_a^powers[a]`` of an attention polynomial."""

    coefficient: sympy.Rational | sympy.Float
    powers: tuple[int, ...]

    @property
    def value(self) -> float:
        """The coefficient as a float."""
        return float(self.coefficient)

    @property
    def support(self) -> tuple[int, ...]:
        """Positions of the variables with a positive power (the hyperedge)."""
        return tuple(a for a, p in enumerate(self.powers) if p > 0)

    @property
    def degree(self) -> int:
        return sum(self.powers)

    @property
    def is_multilinear(self) -> bool:
        return all(p <= 1 for p in self.powers)


def _natural_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


class Mechanism:
    """A poly-attention mechanism (immutable).

    Build one with :meth:`from_polynomial` or :meth:`from_hypergraph`, or take one
    from :mod:`polyth.zoo`. Two mechanisms are equal when a renaming of the
    non-query variables maps one onto the other (monomials, coefficients, powers
    and value variables), with the same options.
    """

    def __init__(
        self,
        variables: Sequence[str],
        monomials: Sequence[Monomial],
        values: Iterable[int] | None = None,
        untied: bool = False,
        scale: float | None = None,
        per_channel: bool = False,
        name: str | None = None,
        similarity: Exp | Taylor | FeatureMap | None = None,
    ):
        variables = tuple(variables)
        monomials = tuple(monomials)
        t = len(variables)
        if t < 2:
            raise PolyError(
                "an attention mechanism needs the query and at least one more variable "
                f"(got {list(variables)})"
            )
        if t > MAX_VARIABLES:
            raise PolyError(f"{t} variables exceed the limit of {MAX_VARIABLES}")
        if len(set(variables)) != t:
            raise PolyError(f"variable names repeat: {list(variables)}")
        if not monomials:
            raise PolyError("the polynomial has no monomials")
        for mono in monomials:
            if len(mono.powers) != t:
                raise PolyError("every monomial needs one power per variable")
            if mono.degree == 0:
                raise PolyError(
                    f"constant term {mono.coefficient} cancels in the softmax normalisation; remove it"
                )
            if mono.coefficient == 0:
                raise PolyError("a monomial has coefficient 0; remove it")
        used = {a for mono in monomials for a in mono.support}
        if 0 not in used:
            raise PolyError(
                f"the polynomial does not contain the query variable {variables[0]}; "
                "every mechanism must depend on the query"
            )
        unused = [variables[a] for a in range(t) if a not in used]
        if unused:
            raise PolyError(f"variables {unused} do not appear in any monomial")
        if values is None:
            values = range(1, t)
        values = tuple(sorted(set(values)))
        if not values:
            raise PolyError("at least one value variable is needed")
        for a in values:
            if not (isinstance(a, int) and 0 <= a < t):
                raise PolyError(f"value position {a!r} is not a variable position 0..{t - 1}")
        if scale is not None:
            scale = float(scale)
            if not (scale == scale and abs(scale) < float("inf")):
                raise PolyError(f"scale {scale} is not a finite number")
        self._variables = variables
        self._monomials = monomials
        self._values = values
        self._untied = bool(untied)
        self._scale = scale
        self._per_channel = bool(per_channel)
        self._name = name
        self._similarity = Exp() if similarity is None else similarity
        check_similarity(self._similarity, self)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_polynomial(
        cls,
        polynomial: str | sympy.Expr,
        query: str = "x1",
        values: Iterable[int | str] | None = None,
        untied: bool = False,
        scale: float | None = None,
        per_channel: bool = False,
        variables: Sequence[str] | None = None,
        name: str | None = None,
        similarity: Exp | Taylor | FeatureMap | None = None,
    ) -> Mechanism:
        """Build a mechanism from a polynomial, as text or as a sympy expression.

        Text is parsed by :func:`polyth.parse.parse_polynomial` (never executed). The
        variables are ordered query first, then the others in natural order (x2 < x10).
        ``values`` names the value variables by name or 1-based position.
        """
        if isinstance(polynomial, str):
            expr = parse_polynomial(polynomial, list(variables) if variables else None)
        elif isinstance(polynomial, sympy.Basic):
            expr = polynomial
        else:
            raise PolyError(
                f"expected a polynomial as text or a sympy expression, got {type(polynomial).__name__}"
            )
        check_expr(expr)
        # Symbols are told apart by name only: x1 and x1 (real) are one variable.
        expr = expr.xreplace({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
        symbols = sorted(expr.free_symbols, key=lambda s: _natural_key(s.name))
        names = [s.name for s in symbols]
        if variables is not None:
            unknown = sorted(set(names) - set(variables))
            if unknown:
                raise PolyError(f"unknown symbols {unknown}: the variables are {list(variables)}")
        if query not in names:
            raise PolyError(
                f"the polynomial does not contain the query variable {query}; "
                "every mechanism must depend on the query"
            )
        order = [query] + [n for n in names if n != query]
        by_name = {s.name: s for s in symbols}
        poly = sympy.Poly(sympy.expand(expr), *[by_name[n] for n in order])
        monomials = [Monomial(_exact_coefficient(c), tuple(p)) for p, c in poly.terms() if c != 0]
        if any(sum(p) == 0 for p, _ in poly.terms()):
            raise PolyError("the polynomial has a constant term, which cancels in the softmax; remove it")
        if not monomials:
            raise PolyError("the polynomial is identically zero")
        for mono in monomials:
            value = float(mono.coefficient)
            if value != value or abs(value) == float("inf"):
                text = str(mono.coefficient)
                text = text if len(text) <= 40 else text[:39] + "…"
                raise PolyError(f"coefficient {text} is not a finite float64 number")
        return cls(
            order, monomials, _value_positions(values, order), untied, scale, per_channel, name, similarity
        )

    @classmethod
    def from_hypergraph(
        cls,
        edges: Iterable[Sequence[int]] | nx.Graph,
        query: int = 1,
        values: Iterable[int | str] | None = None,
        untied: bool = False,
        scale: float | None = None,
        per_channel: bool = False,
        name: str | None = None,
        similarity: Exp | Taylor | FeatureMap | None = None,
    ) -> Mechanism:
        """Build a mechanism whose monomials are the hyperedges, each with coefficient 1.

        ``edges`` is an iterable of tuples of variable indices (``(1, 2)`` is x1·x2) or a
        networkx graph whose nodes are positive integers; ``query`` is the query's index.
        """
        if isinstance(edges, nx.Graph):
            if edges.is_directed() or edges.is_multigraph():
                raise PolyError("pass an undirected simple networkx graph")
            isolated = list(nx.isolates(edges))
            if isolated:
                raise PolyError(f"vertices {isolated} lie on no edge")
            edges = list(edges.edges())
        try:
            hyperedges = [tuple(edge) for edge in edges]
        except TypeError as exc:
            raise PolyError("hyperedges must be tuples of variable indices, e.g. [(1, 2), (2, 3)]") from exc
        if not hyperedges:
            raise PolyError("the hypergraph has no edges")
        vertices = set()
        for edge in hyperedges:
            if not edge:
                raise PolyError("an empty hyperedge is a constant term, which cancels in the softmax")
            for v in edge:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise PolyError(f"vertex {v!r} in hyperedge {edge} is not a positive integer")
            if len(set(edge)) != len(edge):
                raise PolyError(f"hyperedge {edge} repeats a vertex; write powers as a polynomial")
            vertices.update(edge)
        if not isinstance(query, int) or query not in vertices:
            raise PolyError(f"the query vertex {query!r} lies on no hyperedge")
        order = [f"x{query}"] + [f"x{v}" for v in sorted(vertices) if v != query]
        position = {int(name[1:]): a for a, name in enumerate(order)}
        merged: dict[tuple[int, ...], int] = {}
        for edge in hyperedges:
            powers = [0] * len(order)
            for v in edge:
                powers[position[v]] = 1
            merged[tuple(powers)] = merged.get(tuple(powers), 0) + 1
        monomials = [Monomial(sympy.Integer(c), p) for p, c in merged.items()]
        return cls(
            order, monomials, _value_positions(values, order), untied, scale, per_channel, name, similarity
        )

    def replace(self, **changes) -> Mechanism:
        """A copy with some of ``values``, ``untied``, ``scale``, ``per_channel``, ``name``,
        ``similarity`` changed."""
        fields = dict(
            values=self._values,
            untied=self._untied,
            scale=self._scale,
            per_channel=self._per_channel,
            name=self._name,
            similarity=self._similarity,
        )
        unknown = set(changes) - set(fields)
        if unknown:
            raise PolyError(f"cannot replace {sorted(unknown)}; choose from {sorted(fields)}")
        if "values" in changes and changes["values"] is not None:
            changes["values"] = _value_positions(changes["values"], self._variables)
        fields.update(changes)
        return Mechanism(self._variables, self._monomials, **fields)

    # ---------------------------------------------------------------- properties
    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names, the query first."""
        return self._variables

    @property
    def query(self) -> str:
        return self._variables[0]

    @property
    def t(self) -> int:
        """Number of variables (token positions per tuple)."""
        return len(self._variables)

    @property
    def monomials(self) -> tuple[Monomial, ...]:
        return self._monomials

    @property
    def k(self) -> int:
        """Total degree: the largest monomial degree."""
        return max(m.degree for m in self._monomials)

    @property
    def supports(self) -> tuple[tuple[int, ...], ...]:
        """Each monomial's support (variable positions): the hyperedges."""
        return tuple(m.support for m in self._monomials)

    @cached_property
    def support_groups(self) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """(support, monomial indices) per distinct support, in order of first appearance.

        Monomials on the same support share one score table: x1·x2 and 3·x1²·x2 both live on
        {x1, x2}.
        """
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, mono in enumerate(self._monomials):
            groups.setdefault(mono.support, []).append(i)
        return tuple((support, tuple(ids)) for support, ids in groups.items())

    @property
    def values(self) -> tuple[int, ...]:
        """Positions of the value variables (0 is the query)."""
        return self._values

    @property
    def untied(self) -> bool:
        """Whether each (monomial, variable) pair has its own projected input."""
        return self._untied

    @property
    def scale(self) -> float | None:
        """The score scale; ``None`` means 1/d (see :meth:`scale_for`)."""
        return self._scale

    @property
    def per_channel(self) -> bool:
        """Depthwise mode: output channel c uses coordinate c only (dv = d)."""
        return self._per_channel

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def similarity(self) -> Exp | Taylor | FeatureMap:
        """The similarity kernel (:mod:`polyth.similarity`): exp (default), Taylor(g) or a feature map."""
        return self._similarity

    def scale_for(self, d: int) -> float:
        """The scale in force for head dimension ``d``."""
        return self._scale if self._scale is not None else 1.0 / d

    @property
    def is_multilinear(self) -> bool:
        return all(m.is_multilinear for m in self._monomials)

    @property
    def in_paper_class(self) -> bool:
        """Multilinear, degree ≥ 2 monomials with coefficients in {0, 1} (the paper's class), weighted by
        exp (a feature-map similarity is not softmax attention: the paper's results do not apply)."""
        if isinstance(self._similarity, FeatureMap):
            return False
        return all(m.is_multilinear and m.degree >= 2 and m.coefficient == 1 for m in self._monomials)

    @property
    def input_slots(self) -> tuple[tuple[int | None, int], ...]:
        """The order of the projected inputs ``Q``: ``(monomial or None, variable)`` pairs.

        Tied: one input per variable, ``(None, a)``. Untied: one per monomial and variable
        of its support, ``(m, a)`` in monomial order.
        """
        if not self._untied:
            return tuple((None, a) for a in range(self.t))
        return tuple((i, a) for i, mono in enumerate(self._monomials) for a in mono.support)

    @cached_property
    def polynomial(self) -> sympy.Expr:
        """The attention polynomial as a sympy expression."""
        symbols = [sympy.Symbol(v, real=True) for v in self._variables]
        return sympy.Add(
            *[
                mono.coefficient * sympy.Mul(*[s**p for s, p in zip(symbols, mono.powers)])
                for mono in self._monomials
            ]
        )

    @cached_property
    def hypergraph(self) -> nx.Graph:
        """The bipartite factor graph: variable nodes, monomial nodes ``m0, m1, …``."""
        graph = nx.Graph()
        for a, v in enumerate(self._variables):
            graph.add_node(v, bipartite=0, kind="variable", position=a, query=a == 0, value=a in self._values)
        for i, mono in enumerate(self._monomials):
            graph.add_node(f"m{i}", bipartite=1, kind="monomial", coefficient=mono.value, degree=mono.degree)
            for a in mono.support:
                graph.add_edge(f"m{i}", self._variables[a], power=mono.powers[a])
        return graph

    @cached_property
    def primal_graph(self) -> nx.Graph:
        """The 2-section: variables joined when they share a monomial."""
        graph = nx.Graph()
        graph.add_nodes_from(self._variables)
        for support in self.supports:
            for a, b in itertools.combinations(support, 2):
                graph.add_edge(self._variables[a], self._variables[b])
        return graph

    @property
    def is_tree(self) -> bool:
        """Every monomial has support ≤ 2 and the primal graph is a forest (docs/design.md §1)."""
        return all(len(s) <= 2 for s in self.supports) and nx.is_forest(self.primal_graph)

    @property
    def is_connected(self) -> bool:
        return nx.is_connected(self.primal_graph)

    # ------------------------------------------------------------ canonical form
    def _key(self, order: Sequence[int]) -> tuple:
        """Encoding of the mechanism with variables renumbered so that order[i] becomes i."""
        rank = {a: i for i, a in enumerate(order)}
        monomials = sorted(
            (tuple(sorted((rank[a], p) for a, p in enumerate(m.powers) if p)), str(m.coefficient))
            for m in self._monomials
        )
        return (tuple(monomials), tuple(sorted(rank[a] for a in self._values)))

    def _options(self) -> tuple:
        return (self._untied, self._scale, self._per_channel, self._similarity)

    @cached_property
    def _canonical_key(self) -> tuple:
        """The encoding under a canonical order of the variables, the same for all renamings.

        The factor graph is coloured (variables by query/value role, monomials by
        coefficient, and each monomial–variable edge subdivided by a node coloured with
        its power) and labelled canonically by BLISS (igraph's ``canonical_permutation``):
        isomorphic coloured graphs get identical labelled graphs, so ordering the
        non-query variables by their canonical labels gives an encoding that depends on
        the renaming class only. This stays fast on symmetric hypergraphs (disjoint
        pairs, spiders), where searching over permutations is exponential.
        """
        import igraph  # BLISS; loaded on the first comparison (igraph's import costs ~0.4 s)

        t = self.t
        colours = [f"0 var {a == 0} {a in self._values}" for a in range(t)]
        edges = []
        for mono in self._monomials:
            node = len(colours)
            colours.append(f"1 mono {mono.coefficient}")
            for a in mono.support:
                edges += [(node, len(colours)), (len(colours), a)]
                colours.append(f"2 power {mono.powers[a]}")
        palette = {c: i for i, c in enumerate(sorted(set(colours)))}
        graph = igraph.Graph(n=len(colours), edges=edges)
        # igraph lists the vertices in canonical order: entry i is the vertex labelled i.
        canonical_order = graph.canonical_permutation(color=[palette[c] for c in colours])
        order = (0,) + tuple(v for v in canonical_order if 0 < v < t)
        return self._key(order)

    def canonical(self) -> Mechanism:
        """The representative of this mechanism's renaming class, variables x1 … xt."""
        monomial_key, values = self._canonical_key
        t = self.t
        monomials = []
        for encoded, coefficient in monomial_key:
            powers = [0] * t
            for a, p in encoded:
                powers[a] = p
            mono = next(m for m in self._monomials if str(m.coefficient) == coefficient)
            monomials.append(Monomial(mono.coefficient, tuple(powers)))
        return Mechanism(
            [f"x{i + 1}" for i in range(t)],
            monomials,
            values,
            self._untied,
            self._scale,
            self._per_channel,
            self._name,
            self._similarity,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mechanism):
            return NotImplemented
        return (
            self.t == other.t
            and self._options() == other._options()
            and self._canonical_key == other._canonical_key
        )

    def __hash__(self) -> int:
        return hash((self.t, self._options(), self._canonical_key))

    # ---------------------------------------------------------------- display
    def __repr__(self) -> str:
        options = []
        if self._values != tuple(range(1, self.t)):
            options.append("values={" + ", ".join(self._variables[a] for a in self._values) + "}")
        if self._untied:
            options.append("untied")
        if self._per_channel:
            options.append("per_channel")
        if self._scale is not None:
            options.append(f"scale={self._scale:g}")
        if not isinstance(self._similarity, Exp):
            options.append(f"similarity={self._similarity.describe()}")
        label = f"{self._name}: " if self._name else ""
        extra = (", " + ", ".join(options)) if options else ""
        return f"Mechanism({label}h = {sympy.sstr(self.polynomial)}{extra})"

    def _scale_text(self) -> str:
        if isinstance(self._similarity, FeatureMap):
            return "none (sim = φ(q)·φ(k))"
        return "1/d" if self._scale is None else str(self._scale)

    def _repr_latex_(self) -> str:
        return f"$h = {sympy.latex(self.polynomial)}$"

    def describe(self) -> str:
        """A multi-line summary: polynomial, variables, monomials, degree, tree, hyperedges."""
        lines = [
            f"mechanism   {self._name or '(unnamed)'}",
            f"polynomial  h = {sympy.sstr(self.polynomial)}",
            f"variables   {', '.join(self._variables)} (t = {self.t}, query {self.query})",
            f"values      {', '.join(self._variables[a] for a in self._values)}",
            f"degree      k = {self.k}",
            f"tree        {'yes' if self.is_tree else 'no'}",
            f"connected   {'yes' if self.is_connected else 'no'}",
            f"paper class {'yes' if self.in_paper_class else 'no (multilinear 0/1 results may not apply)'}",
            f"options     untied={self._untied} per_channel={self._per_channel} scale={self._scale_text()}",
            f"similarity  {self._similarity.describe()}",
            "monomials",
        ]
        for mono in self._monomials:
            term = "·".join(
                self._variables[a] + (f"^{p}" if p > 1 else "") for a, p in enumerate(mono.powers) if p
            )
            lines.append(f"  {str(mono.coefficient):>8}  {term}")
        edges = ", ".join("{" + ", ".join(self._variables[a] for a in s) + "}" for s in self.supports)
        lines.append(f"hyperedges  {edges}")
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the factor graph (variables as circles, the query highlighted, monomials as squares).

        Returns the matplotlib figure.
        """
        import matplotlib.pyplot as plt

        graph = self.hypergraph
        if ax is None:
            fig, ax = plt.subplots(figsize=(4 + 0.4 * self.t, 3.5))
        else:
            fig = ax.figure
        variables = [n for n, d in graph.nodes(data=True) if d["kind"] == "variable"]
        monomials = [n for n, d in graph.nodes(data=True) if d["kind"] == "monomial"]
        pos = nx.kamada_kawai_layout(graph) if len(graph) > 2 else nx.spring_layout(graph, seed=0)
        colours = ["tab:red" if graph.nodes[v]["query"] else "tab:blue" for v in variables]
        nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.6")
        nx.draw_networkx_nodes(graph, pos, nodelist=variables, node_color=colours, ax=ax, node_size=600)
        nx.draw_networkx_nodes(
            graph, pos, nodelist=monomials, node_shape="s", node_color="0.85", ax=ax, node_size=350
        )
        labels = {v: v for v in variables}
        labels.update({m: f"{graph.nodes[m]['coefficient']:g}" for m in monomials})
        nx.draw_networkx_labels(graph, pos, labels=labels, ax=ax, font_size=9)
        ax.set_title(f"h = {sympy.sstr(self.polynomial)}", fontsize=9)
        ax.set_axis_off()
        return fig


def _exact_coefficient(c: sympy.Expr) -> sympy.Rational:
    """A float coefficient as the rational its shortest decimal form denotes (0.1 → 1/10).

    Unlike ``nsimplify`` this never guesses a closed form (1.4142135623730951 stays rational,
    not sqrt(2)), and it converts back to the same float.
    """
    if isinstance(c, sympy.Float):
        value = float(c)
        if not math.isfinite(value):
            raise PolyError(f"coefficient {c:.6g} is not a finite float64 number")
        return sympy.Rational(repr(value))
    return c


def _value_positions(values: Iterable[int | str] | None, order: Sequence[str]) -> tuple[int, ...] | None:
    """Translate value variables given by name or 1-based index into 0-based positions."""
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    positions = []
    for v in values:
        if isinstance(v, str):
            if v not in order:
                raise PolyError(f"value variable {v!r} is not one of {list(order)}")
            positions.append(order.index(v))
        elif isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= len(order):
            positions.append(v - 1)
        else:
            raise PolyError(f"value variable {v!r} must be a name or a 1-based index 1..{len(order)}")
    return tuple(positions)
