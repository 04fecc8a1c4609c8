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
import textwrap
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import sympy

from polyth.errors import PolyError
from polyth.mechanism import notation
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
        *,
        labels: Sequence[Hashable] | None = None,
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
        if labels is not None and len(labels) != t:
            raise PolyError(f"{len(labels)} labels for {t} variables")
        self._labels = None if labels is None else tuple(labels)

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
        Variables are named x1, x2, … unless ``variables`` lists other names (then ``query``
        names the query). ``values`` names the value variables by name or 1-based position.
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
        edges: Iterable[Sequence[Hashable]] | nx.Graph,
        query: Hashable | None = None,
        values: Iterable[Hashable] | None = None,
        untied: bool = False,
        scale: float | None = None,
        per_channel: bool = False,
        name: str | None = None,
        similarity: Exp | Taylor | FeatureMap | None = None,
    ) -> Mechanism:
        """Build a mechanism whose monomials are the hyperedges, each with coefficient 1.

        ``edges`` is an iterable of hyperedges, each a tuple of vertex labels (``(1, 2, 3)`` is
        x1·x2·x3), or a networkx graph (:meth:`from_graph`). A hyperedge given twice is one
        monomial with coefficient 2. Labels are any hashable values:

        * positive integers are the variables' indices: vertex 5 is x5, and the query is
          vertex 1 unless ``query`` names another;
        * any other labels (0-based integers, strings, tuples) name the query by ``query``;
          it becomes x1 and the other vertices x2, x3, … in sorted order (strings in natural
          order, x2 < x10; order of first appearance when labels do not compare).

        :attr:`labels` keeps the vertex of every variable, and :meth:`describe` shows it.
        ``values`` are vertex labels too (default: every vertex but the query).

            >>> Mechanism.from_hypergraph([("q", "k"), ("k", "v")], query="q").labels
            {'x1': 'q', 'x2': 'k', 'x3': 'v'}
        """
        if isinstance(edges, nx.Graph):
            return cls.from_graph(edges, query, values, untied, scale, per_channel, name, similarity)
        try:
            hyperedges = [tuple(edge) for edge in edges]
        except TypeError as exc:
            raise PolyError("hyperedges must be tuples of vertices, e.g. [(1, 2), (2, 3)]") from exc
        return cls._from_labelled(
            hyperedges,
            query,
            values,
            dict(untied=untied, scale=scale, per_channel=per_channel, name=name, similarity=similarity),
        )

    @classmethod
    def from_graph(
        cls,
        graph: nx.Graph,
        query: Hashable | None = None,
        values: Iterable[Hashable] | None = None,
        untied: bool = False,
        scale: float | None = None,
        per_channel: bool = False,
        name: str | None = None,
        similarity: Exp | Taylor | FeatureMap | None = None,
    ) -> Mechanism:
        """The mechanism of a networkx graph: one monomial x_a·x_b per edge (Chakrabarti, Pitassi,
        Alman 2026: a graph is the hypergraph of a degree-2 attention polynomial).

        The query is the node named by ``query``, or else the one node whose attribute
        ``query`` is true (``G.nodes[v]["query"] = True``, as in :attr:`hypergraph`). Node
        labels and the variables' names follow :meth:`from_hypergraph`: any hashable labels,
        the query becomes x1 and the mapping is kept in :attr:`labels`. A ``MultiGraph``'s
        parallel edges add up to the monomial's coefficient; edge attributes (weights) are not
        read, so a weighted polynomial is written with :meth:`from_polynomial`. Directed graphs,
        self-loops and nodes on no edge are refused: a monomial x_a·x_b has no direction, a
        loop would be a power, a lone node a variable in no monomial.

            >>> import networkx as nx
            >>> Mechanism.from_graph(nx.path_graph(3), query=0).polynomial
            x1*x2 + x2*x3
        """
        if not isinstance(graph, nx.Graph):
            raise PolyError(f"expected a networkx graph, got {type(graph).__name__}")
        if graph.is_directed():
            raise PolyError(
                "a directed graph has no meaning here: the monomial x_a·x_b has no direction; "
                "pass graph.to_undirected()"
            )
        loops = sorted(map(repr, {a for a, b in nx.selfloop_edges(graph)}))
        if loops:
            raise PolyError(
                f"self-loops at {', '.join(loops)}: a loop would be a power x_a², which a graph cannot "
                "say; write the polynomial with Mechanism.from_polynomial"
            )
        isolated = list(nx.isolates(graph))
        if isolated:
            raise PolyError(f"nodes {isolated} lie on no edge: every variable must appear in a monomial")
        marked = [v for v, is_query in graph.nodes(data="query") if is_query]
        if len(marked) > 1:
            raise PolyError(f"nodes {marked} are all marked as the query; mark one")
        if marked:
            if query is not None and query != marked[0]:
                raise PolyError(f"query={query!r} disagrees with the node marked as the query, {marked[0]!r}")
            query = marked[0]
        options = dict(untied=untied, scale=scale, per_channel=per_channel, name=name, similarity=similarity)
        return cls._from_labelled([tuple(edge) for edge in graph.edges()], query, values, options)

    @classmethod
    def _from_labelled(cls, hyperedges: list[tuple], query, values, options: dict) -> Mechanism:
        """The mechanism whose monomials are ``hyperedges`` of vertex labels (see from_hypergraph)."""
        if not hyperedges:
            raise PolyError("the hypergraph has no edges")
        vertices: dict[Hashable, None] = {}  # in order of first appearance
        for edge in hyperedges:
            if not edge:
                raise PolyError("an empty hyperedge is a constant term, which cancels in the softmax")
            for v in edge:
                if isinstance(v, bool):
                    raise PolyError(
                        f"vertex {v!r} in hyperedge {edge} is a bool; label vertices by ints or strings"
                    )
                try:
                    vertices.setdefault(v)
                except TypeError:
                    raise PolyError(f"vertex {v!r} in hyperedge {edge} is not hashable") from None
            if len(set(edge)) != len(edge):
                raise PolyError(f"hyperedge {edge} repeats a vertex; write powers as a polynomial")
        indices = all(isinstance(v, int) and v >= 1 for v in vertices)
        if query is None:
            if not indices:
                first = next(iter(vertices))
                raise PolyError(
                    "the vertices are not the indices 1, 2, …, so no vertex is x1 by default: name the "
                    f"query, e.g. query={first!r}, or mark its node with the attribute query=True"
                )
            query = 1
        try:
            on_an_edge = query in vertices
        except TypeError:
            on_an_edge = False
        if not on_an_edge:
            raise PolyError(f"the query vertex {query!r} lies on no hyperedge")
        others = [v for v in _label_order(vertices) if v != query]
        labels = [query] + others
        if indices:
            variables = [f"x{v}" for v in labels]
        else:
            variables = [f"x{a + 1}" for a in range(len(labels))]
        position = {v: a for a, v in enumerate(labels)}
        merged: dict[tuple[int, ...], int] = {}
        for edge in hyperedges:
            powers = [0] * len(labels)
            for v in edge:
                powers[position[v]] = 1
            merged[tuple(powers)] = merged.get(tuple(powers), 0) + 1
        monomials = [Monomial(sympy.Integer(c), p) for p, c in merged.items()]
        if values is not None:
            values = [values] if isinstance(values, (str, int)) else list(values)
            unknown = [v for v in values if v not in position]
            if unknown:
                raise PolyError(f"value vertices {unknown} are not vertices of the hypergraph")
            values = [position[v] for v in values]
        return cls(variables, monomials, values, labels=labels, **options)

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
        return Mechanism(self._variables, self._monomials, **fields, labels=self._labels)

    # ---------------------------------------------------------------- properties
    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names, the query first."""
        return self._variables

    @property
    def query(self) -> str:
        return self._variables[0]

    @property
    def labels(self) -> dict[str, Hashable] | None:
        """The vertex each variable stands for, when built from a graph or hyperedges; else None.

        ``Mechanism.from_graph(nx.path_graph(3), query=0).labels == {"x1": 0, "x2": 1, "x3": 2}``.
        """
        return None if self._labels is None else dict(zip(self._variables, self._labels))

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
            label = v if self._labels is None else self._labels[a]
            graph.add_node(
                v,
                bipartite=0,
                kind="variable",
                position=a,
                query=a == 0,
                value=a in self._values,
                label=label,
            )
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
        return "1/d" if self._scale is None else f"{self._scale:g}"

    def _term(self, mono: Monomial) -> sympy.Expr:
        """The monomial without its coefficient, as a sympy product."""
        symbols = [sympy.Symbol(v, real=True) for v in self._variables]
        return sympy.Mul(*[s**p for s, p in zip(symbols, mono.powers)])

    @property
    def relabelled(self) -> bool:
        """Whether the variables were renamed from vertex labels (so :attr:`labels` is worth showing)."""
        return self._labels is not None and any(
            v != f"x{label}" for v, label in zip(self._variables, self._labels)
        )

    def text(self) -> str:
        """The attention polynomial as terminal mathematics, e.g. ``h = x1·x2 + x2·x3`` (its
        variables in their order, query first; :mod:`polyth.mechanism.notation`)."""
        return f"h = {notation.text(self.polynomial, self._variables)}"

    def latex(self) -> str:
        """The attention polynomial in LaTeX (math mode, no ``$``), e.g. ``h = x_{1} x_{2} + x_{2} x_{3}``."""
        return f"h = {notation.latex(self.polynomial, self._variables)}"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def describe(self, width: int = 80) -> str:
        """A summary in lines of at most ``width`` characters: polynomial, variables, options, monomials,
        hyperedges; the vertex of every variable when built from a graph with other labels."""
        inputs = "untied: one Q per monomial and variable" if self._untied else "tied: one Q per variable"
        channels = (
            "per channel: output channel c uses coordinate c only"
            if self._per_channel
            else "shared: every coordinate scores every output channel"
        )
        polynomial = re.split(r" (?=[+-] )", self.text())
        fields = [
            ("mechanism", [self._name or "(unnamed)"]),
            ("polynomial", polynomial),
            ("variables", _listed(self._variables) + [f"(t = {self.t}, query {self.query})"]),
        ]
        if self.relabelled:
            fields.append(
                ("labels", _listed(f"{v} = {label}" for v, label in zip(self._variables, self._labels)))
            )
        fields += [
            ("values", _listed(self._variables[a] for a in self._values)),
            ("degree", [f"k = {self.k}"]),
            ("tree", ["yes" if self.is_tree else "no"]),
            ("connected", ["yes" if self.is_connected else "no"]),
            ("paper class", ["yes" if self.in_paper_class else "no (multilinear 0/1 results may not apply)"]),
            ("inputs", [inputs]),
            ("channels", [channels]),
            ("scale", [self._scale_text()]),
            ("similarity", [self._similarity.describe()]),
        ]
        lines = [line for key, items in fields for line in _wrapped(key, items, width)]
        lines.append("monomials")
        for mono in self._monomials:
            term = notation.text(self._term(mono), self._variables)
            lines.append(f"  {notation.text(mono.coefficient):>8}  {term}")
        edges = ["{" + ", ".join(self._variables[a] for a in s) + "}" for s in self.supports]
        lines += _wrapped("hyperedges", _listed(edges), width)
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the factor graph: variables as circles (the query in red), each monomial as a square
        labelled by the monomial itself, joined to the variables it contains; a legend says which is
        which. Returns the matplotlib figure.
        """
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        graph = self.hypergraph
        if ax is None:
            fig, ax = plt.subplots(figsize=(4.5 + 0.4 * self.t, 4))
        else:
            fig = ax.figure
        variables = [v for v, kind in graph.nodes(data="kind") if kind == "variable"]
        monomials = [m for m, kind in graph.nodes(data="kind") if kind == "monomial"]
        pos = nx.kamada_kawai_layout(graph) if len(graph) > 2 else nx.spring_layout(graph, seed=0)
        colours = ["tab:red" if graph.nodes[v]["query"] else "tab:blue" for v in variables]
        nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.6")
        nx.draw_networkx_nodes(graph, pos, nodelist=variables, node_color=colours, ax=ax, node_size=600)
        nx.draw_networkx_nodes(
            graph, pos, nodelist=monomials, node_shape="s", node_color="0.88", ax=ax, node_size=900
        )
        labels = {v: f"${notation.latex(sympy.Symbol(v))}$" for v in variables}
        if self.relabelled:
            labels = {v: f"{labels[v]}\n{graph.nodes[v]['label']}" for v in variables}
        nx.draw_networkx_labels(graph, pos, labels=labels, ax=ax, font_size=9, font_color="white")
        terms = {
            f"m{i}": f"${notation.latex(mono.coefficient * self._term(mono), self._variables)}$"
            for i, mono in enumerate(self._monomials)
        }
        nx.draw_networkx_labels(graph, pos, labels=terms, ax=ax, font_size=8)
        legend = [
            Line2D([], [], marker="o", ls="", color="tab:red", markersize=10, label=f"query {self.query}"),
            Line2D([], [], marker="o", ls="", color="tab:blue", markersize=10, label="other variable"),
            Line2D([], [], marker="s", ls="", color="0.88", markersize=10, label="monomial (hyperedge)"),
        ]
        ax.legend(handles=legend, loc="best", fontsize=8, framealpha=0.8)
        polynomial = self.latex()  # a long one would run off the figure: then its name and size
        title = (
            f"${polynomial}$"
            if len(polynomial) <= 90
            else f"{self._name or 'h'}: {len(self._monomials)} monomials"
        )
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
        return fig


def _listed(items: Iterable[str]) -> list[str]:
    """Items of a comma-separated list, each but the last carrying its comma."""
    items = list(items)
    return [item + "," for item in items[:-1]] + items[-1:]


def _wrapped(key: str, items: Sequence[str], width: int) -> list[str]:
    """``key`` in a 12-column margin, then ``items`` separated by spaces, broken only between items
    (a prose item is broken at its spaces) so that lines stay within ``width``."""
    if len(items) == 1:
        return textwrap.wrap(
            items[0], width, initial_indent=f"{key:<12}", subsequent_indent=" " * 12, break_long_words=False
        )
    lines, line = [], f"{key:<12}{items[0]}"
    for item in items[1:]:
        if len(line) + 1 + len(item) > width:
            lines.append(line)
            line = " " * 12 + item
        else:
            line += " " + item
    return lines + [line]


def _label_key(label: Hashable) -> tuple:
    if isinstance(label, str):
        return (1, _natural_key(label))
    if isinstance(label, (int, float)):
        return (0, label)
    return (2, label)


def _label_order(labels: Iterable[Hashable]) -> list[Hashable]:
    """Vertex labels in a deterministic order: sorted (strings naturally, x2 < x10), or in order of
    first appearance when they do not compare (mixed kinds of tuples, arbitrary objects)."""
    labels = list(labels)
    try:
        return sorted(labels, key=_label_key)
    except TypeError:
        return labels


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
