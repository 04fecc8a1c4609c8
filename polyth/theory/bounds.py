"""``polyth.bounds(m)``: what is known about computing a mechanism, derived from its hypergraph.

Everything comes out of one engine: the exact plan (:mod:`polyth.theory.plan`) and its cost
(:mod:`polyth.theory.cost`), the lower bounds whose structural predicates hold
(:mod:`polyth.lower_bounds`), and the polynomial method's low-rank plan
(:mod:`polyth.theory.approximation`). Nothing is looked up by the mechanism's name.

Lower bounds are inherited by reduction (:func:`polyth.theory.lower_bounds.inherited`): every
registry structure that the mechanism simulates lends its bound, shown with the chain of moves
that reaches it ("≥ n^3 (SETH; …), via: set Q(x4) = 0, V(x4) = 1"), and under a causal mask
through the unmasking reduction where it applies.

The exponent is reported three ways: symbolic in ω and the rectangular exponents ω(a, b, c)
of unbalanced products, its best known value (ω = 2.371339 and the published rectangular
bounds, :mod:`polyth.theory.rectangular`) and what runs (ω = 3, classical products).

The verdict is ``tight`` when the plan's exponent equals the best lower bound's
exponent (as sympy expressions), ``gap`` when a non-trivial lower bound applies
but is smaller (or only known to exceed a value), and ``open`` when only the trivial
input-reading bound applies and the plan is slower than reading the input (a linear-time
plan meets that bound, and is tight). A gap or an open verdict names the open question.

A similarity kernel other than exp (:mod:`polyth.similarity`) adds the decoding
view, derived from the same engine: the recurrent form of the prefix-causal
low-rank plan (state size and per-token cost, :func:`polyth.theory.cost.recurrent_form`)
beside softmax with a KV cache, whose per-token cost is the last query row of the
prefix-causal exact plan of the exp mechanism (:func:`polyth.theory.cost.last_token_cost`).
A feature map is exact in linear time (the exact plan is low rank, r = d_φ); a
Taylor(g) similarity fixes the low-rank plan's rank at the engine's rank for degree g.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from functools import cached_property

import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.mechanism.notation import Math, Phrase
from polyth.mechanism.similarity import Exp, FeatureMap, Taylor
from polyth.theory import cost as _cost
from polyth.theory import lower_bounds as _lower
from polyth.theory.approximation import Approximation, approximate, threshold_exponent
from polyth.theory.cost import OMEGA_BEST, OMEGA_BEST_SOURCE, OMEGA_CLASSICAL, omega
from polyth.theory.lower_bounds import Inherited
from polyth.theory.plan import Plan, exact_plan, low_rank_plan
from polyth.theory.taylor import taylor_error
from polyth.theory.terms import n

DEFAULT_D = 64


def _step_summary(plan: Plan) -> str:
    parts = []
    for s in plan.steps:
        if s.kind == "normalize":
            continue
        parts.append(f"{s.kind}({plan.name(s.eliminated)})")
    return " → ".join(parts) if parts else "(nothing to eliminate)"


def _decimal(value: float) -> str:
    """An exponent to the six decimals ω is known to: 3.371339, 4."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Decoding:
    """Per generated token: the recurrent form of a low-rank mechanism and softmax with a KV cache."""

    state_size: sympy.Expr
    per_token: sympy.Expr
    kv_cache_per_token: sympy.Expr

    @classmethod
    def of(cls, m: Mechanism) -> Decoding | None:
        recurrent_plan = exact_plan(m, "prefix") if isinstance(m.similarity, FeatureMap) else None
        recurrent = _cost.recurrent_form(recurrent_plan or low_rank_plan(m, "prefix"))
        if recurrent is None:
            return None
        softmax = exact_plan(m.replace(similarity=Exp(), scale=None if m.scale == 1.0 else m.scale), "prefix")
        return cls(recurrent.state_size, recurrent.per_token, _cost.last_token_cost(softmax))

    def to_dict(self) -> dict:
        return {
            "state_size": str(self.state_size),
            "per_token": str(self.per_token),
            "kv_cache_per_token": str(self.kv_cache_per_token),
        }


@dataclass(frozen=True)
class Bounds:
    """The complexity report of one mechanism (see :func:`bounds`)."""

    mechanism: Mechanism
    causal: str | None
    plan: Plan
    low_rank: Plan
    lower: tuple[Inherited, ...]
    lower_unmasked: tuple[Inherited, ...]
    approx_lower: tuple[_lower.LowerBound, ...]
    approximation: Approximation | None
    decoding: Decoding | None = None
    taylor_error: tuple[float, float] | None = None  # (weight δ, output bound) of the Taylor form at B

    # ------------------------------------------------------------ exact
    @cached_property
    def cost(self) -> sympy.Expr:
        return _cost.cost(self.plan)

    @cached_property
    def exponent(self) -> sympy.Expr:
        return _cost.exponent(self.plan)

    @property
    def exponent_omega_best(self) -> float:
        """The best known value: ω = 2.371339 and the published rectangular bounds."""
        return _cost.exponent_value(self.plan)

    @property
    def exponent_omega_3(self) -> float:
        """What runs: ω = 3, every product classical."""
        return _cost.exponent_value(self.plan, OMEGA_CLASSICAL)

    @cached_property
    def best_lower(self) -> Inherited:
        """The strongest lower bound: largest exponent at ω_best, then ω = 3, strict first, shortest chain."""
        return max(self.lower, key=lambda bound: bound.rank)

    @cached_property
    def verdict(self) -> str:
        best = self.best_lower
        if not best.strict and sympy.simplify(self.exponent - best.exponent()) == 0:
            return "tight"  # linear-time plans meet even the input-reading bound
        return "open" if best.id == "input" else "gap"

    @property
    def tight(self) -> bool:
        return self.verdict == "tight"

    @property
    def gap(self) -> str | None:
        """Upper minus lower exponent ("< …" when the lower bound is strict)."""
        if self.tight:
            return None
        difference = self._exponent_gap()
        return f"< {difference}" if self.best_lower.strict else str(difference)

    def _exponent_gap(self) -> sympy.Expr:
        return sympy.simplify(self.exponent - self.best_lower.exponent())

    @property
    def open_question(self) -> Phrase | None:
        """What is not known, exactly: the range the exponent is known to lie in."""
        if self.tight:
            return None
        best = self.best_lower
        lower, upper = best.exponent(), self.exponent
        known = Phrase(lower, " < " if best.strict else " ≤ ", "exponent ≤ ", upper)
        if best.id == "input":
            return Phrase(
                "is there an algorithm faster than ", n**upper, ", or a lower bound above n? (", known, ")"
            )
        low = _decimal(float(lower.subs(omega, OMEGA_BEST)))
        values = f"≈ {low} … {_decimal(self.exponent_omega_best)} best known"
        return Phrase("is the exponent below ", upper, ", or above ", lower, "? (", known, ", ", values, ")")

    @cached_property
    def recurrent(self) -> _cost.RecurrentForm | None:
        return _cost.recurrent_form(self.low_rank)

    # ------------------------------------------------------------ output
    def _lower_text(self, bound: Inherited) -> Phrase:
        relation = Math("> ", "> ") if bound.strict else Math("≥ ", r"\geq ")
        text = Phrase(
            relation, n ** bound.exponent(), f"  ({bound.hypothesis}; {bound.structure}; {bound.source})"
        )
        return Phrase(text, f", via: {bound.chain}") if bound.chain else text

    def _exponent_text(self) -> Phrase:
        rectangular = "".join(
            f", ω{tuple(r['shape'])} ≤ {r['best_known']:.6g}"
            + ("" if "≤" in r["derivation"] else f" = {r['derivation']}")
            + f" [{'; '.join(r['sources'])}]"
            for r in _cost.rectangular_products(self.plan)
        )
        exponent = Phrase(self.exponent)
        if self.exponent.free_symbols or rectangular:
            exponent = Phrase(
                self.exponent,
                f": {_decimal(self.exponent_omega_best)} best known (ω = {OMEGA_BEST}{rectangular}), "
                f"{_decimal(self.exponent_omega_3)} with ω = 3 (what the kernels run)",
            )
        return exponent if self.plan.exhaustive else Phrase(exponent, "; an upper bound (heuristic order)")

    def rows(self) -> list[tuple[str, Phrase]]:
        """(field, value) rows shared by the text, Markdown and LaTeX forms.

        A value is a :class:`~polyth.mechanism.notation.Phrase`: ``str(value)`` is what a terminal
        shows (n²·(2d + 2d_v + 5)), ``value.latex()`` the LaTeX.
        """
        m = self.mechanism
        rows = [
            ("mechanism", Phrase(f"{m.name or '(unnamed)'}: ", Math(m.text(), m.latex()))),
            (
                "structure",
                Phrase(
                    f"t = {m.t}, k = {m.k}, tree: {'yes' if m.is_tree else 'no'}, "
                    f"paper class: {'yes' if m.in_paper_class else 'no'}, causal: {self.causal or 'none'}"
                    + (", per-channel" if m.per_channel else "")
                ),
            ),
            (
                "exact algorithm",
                Phrase(_step_summary(self.plan) + ("" if self.plan.exhaustive else " (heuristic order)")),
            ),
            ("exact cost", Phrase(self.cost)),
            ("exact exponent", self._exponent_text()),
            ("peak memory", Phrase(_cost.peak_memory(self.plan))),
        ]
        for bound in self.lower:
            rows.append(("lower bound", self._lower_text(bound)))
        for bound in self.lower_unmasked:
            rows.append(("unmasked only", Phrase(self._lower_text(bound), " (not claimed with the mask)")))
        if self.verdict == "gap":
            relation = "< " if self.best_lower.strict else ""
            verdict = Phrase(f"gap: upper − lower exponent {relation}", self._exponent_gap())
        else:
            verdict = Phrase(
                {
                    "tight": "tight: the plan meets the lower bound",
                    "open": "open: only the input-reading bound applies",
                }[self.verdict]
            )
        rows.append(("verdict", verdict))
        if self.open_question:
            rows.append(("open question", self.open_question))
        rows.extend(self._similarity_rows())
        if not isinstance(m.similarity, FeatureMap):
            threshold = sympy.log(n) ** threshold_exponent(m)
            rows.append(("approx threshold", Phrase(Math("B* ~ ", r"B^* \sim "), threshold)))
            for entry in self.approx_lower:
                rows.append(
                    ("threshold source", Phrase(f"{entry.statement} ({entry.hypothesis}; {entry.source})"))
                )
            rank = "rank r per factor" if self.low_rank.rank is None else Phrase("r = ", self.low_rank.rank)
            rows.append(("low-rank cost", Phrase(_cost.cost(self.low_rank), " (", rank, ")")))
        a = self.approximation
        if a is not None:
            per_table = "; ".join(
                f"{{{', '.join(f.support)}}}: g = {f.degree}, r = {f.rank}" for f in a.factors
            )
            rows.append(
                (
                    "approximation",
                    Phrase(
                        f"B = {a.B:g}, ε = {a.eps:g}, d = {a.d}: Taylor degree g and rank r = C(D+g, g) "
                        f"per table: {per_table}"
                    ),
                )
            )
            rows.append(
                (
                    "approx error",
                    Phrase(f"weights ≤ {a.weight_error:.3g}, output ≤ {a.output_error:.3g} · max|V|"),
                )
            )
            cross = a.crossover_n
            rows.append(("crossover", Phrase("never (below 2^62)" if cross is None else f"n ≥ {cross}")))
        if self.recurrent is not None:
            recurrent = self.recurrent
            rows.append(
                (
                    "recurrent form",
                    Phrase(
                        "state ", recurrent.state_size, ", per token ", recurrent.per_token, " (low-rank)"
                    ),
                )
            )
        if self.causal == "prefix":
            per_token = _cost.amortised_per_token(self.plan)
            rows.append(("exact decoding", Phrase(per_token, " per token, amortised (KV cache)")))
        return rows

    def _similarity_rows(self) -> list[tuple[str, Phrase]]:
        m = self.mechanism
        similarity = m.similarity
        if isinstance(similarity, Exp):
            return []
        rows = [("similarity", Phrase(similarity.describe()))]
        if isinstance(similarity, FeatureMap):
            rank = Math("r = d_φ = ", r"r = d_{\varphi} = ")
            rows.append(("low rank", Phrase(rank, self.plan.rank, ": the exact plan, no approximation")))
        if isinstance(similarity, Taylor):
            per = " per channel" if m.per_channel else ""
            rows.append(
                (
                    "taylor form",
                    Phrase(
                        f"order g = {similarity.order}: rank r = C(D+g, g) = ",
                        self.low_rank.rank,
                        f"{per}; cost ",
                        _cost.cost(self.low_rank),
                        ", exponent ",
                        _cost.exponent(self.low_rank),
                    ),
                )
            )
            if self.taylor_error is not None:
                delta, out = self.taylor_error
                rows.append(
                    (
                        "taylor error",
                        Phrase(
                            f"at B = {self.approximation.B:g}: weights ≤ {delta:.3g}, output ≤ "
                            f"{out:.3g} · max|V| (against the exact exp form)"
                        ),
                    )
                )
        if self.decoding is not None:
            decoding = self.decoding
            rows.append(
                (
                    "recurrent decoding",
                    Phrase(
                        "state ", decoding.state_size, ", per token ", decoding.per_token, " (constant in n)"
                    ),
                )
            )
            rows.append(
                (
                    "softmax KV cache",
                    Phrase(decoding.kv_cache_per_token, " per token (last row of the causal exact exp plan)"),
                )
            )
        return rows

    @property
    def title(self) -> str:
        return f"polyth bounds: {self.mechanism.name or self.mechanism.text()}"

    def text(self, width: int = 80) -> str:
        """Plain text in ``width`` columns: the title, then ``field  value`` rows, long values wrapped."""
        rows = self.rows()
        key_width = max(len(key) for key, _ in rows)
        lines = [self.title]
        for key, value in rows:
            wrapped = textwrap.wrap(str(value), width=max(20, width - key_width - 2)) or [""]
            lines.append(f"{key:<{key_width}}  {wrapped[0]}")
            lines.extend(" " * (key_width + 2) + more for more in wrapped[1:])
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text())

    def markdown(self) -> str:
        """The rows as a Markdown table in terminal notation (the report uses it)."""
        lines = ["| quantity | value |", "|---|---|"]
        for key, value in self.rows():
            escaped = str(value).replace("|", r"\|")
            lines.append(f"| {key} | {escaped} |")
        return "\n".join(lines)

    def latex(self) -> str:
        """The rows as a LaTeX ``array`` (math mode, no ``$``): formulas typeset, prose in ``\\text``.

        A notebook shows it by itself (``_repr_latex_``, when a Bounds is a cell's value or is passed
        to ``display``); ``IPython.display.Math(b.latex())`` shows the same.
        """
        lines = [r"\begin{array}{ll}"]
        for key, value in self.rows():
            lines.append(rf"\text{{{key}}} & {Phrase(value).latex()} \\")
        lines.append(r"\end{array}")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def to_dict(self) -> dict:
        m = self.mechanism
        k = threshold_exponent(m)
        approx: dict = {
            "threshold_exponent": float(k),
            "threshold": f"B = o((log n)^({k}))",
            "sources": [entry.to_dict(m) for entry in self.approx_lower],
            "low_rank_cost": str(_cost.cost(self.low_rank)),
            "low_rank_exponent": str(_cost.exponent(self.low_rank)),
            "low_rank_plan": self.low_rank.to_dict()["steps"],
        }
        a = self.approximation
        if a is not None:
            approx.update(
                {
                    "B": a.B,
                    "eps": a.eps,
                    "d": a.d,
                    "polynomial": a.polynomial,
                    "degree": a.degree,
                    "rank": a.rank,
                    "factors": [
                        {
                            "support": list(f.support),
                            "rank_symbol": f.symbol,
                            "R": f.R,
                            "degree": f.degree,
                            "width": f.width,
                            "rank": f.rank,
                            "error": f.error,
                            "rank_checked": f.rank_checked,
                        }
                        for f in a.factors
                    ],
                    "cost": str(a.cost),
                    "weight_error": a.weight_error,
                    "output_error": a.output_error,
                    "crossover_n": a.crossover_n,
                }
            )
        recurrent = None
        if self.recurrent is not None:
            recurrent = {
                "state_size": str(self.recurrent.state_size),
                "per_token": str(self.recurrent.per_token),
            }
        return {
            "mechanism": {"name": m.name, "polynomial": str(m.polynomial), "variables": list(m.variables)},
            "structure": {
                "t": m.t,
                "k": m.k,
                "is_tree": m.is_tree,
                "is_connected": m.is_connected,
                "in_paper_class": m.in_paper_class,
                "per_channel": m.per_channel,
                "hyperedges": [[m.variables[a] for a in s] for s in m.supports],
                "causal": self.causal,
            },
            "exact": {
                "algorithm": _step_summary(self.plan),
                "cost": str(self.cost),
                "exponent": str(self.exponent),
                "exponent_omega_best": self.exponent_omega_best,
                "exponent_omega_3": self.exponent_omega_3,
                "omega_best": OMEGA_BEST,
                "omega_source": OMEGA_BEST_SOURCE,
                "rectangular": _cost.rectangular_products(self.plan),
                "exhaustive": self.plan.exhaustive,
                "peak_memory": str(_cost.peak_memory(self.plan)),
                "naive_cost": str(_cost.naive_cost(m, self.causal)),
                "order": [self.plan.name(v) for v in self.plan.order],
                "plan": self.plan.to_dict()["steps"],
            },
            "lower": [bound.to_dict() for bound in self.lower],
            "lower_unmasked_only": [bound.to_dict() for bound in self.lower_unmasked],
            "verdict": self.verdict,
            "tight": self.tight,
            "gap": self.gap,
            "open_question": None if self.open_question is None else str(self.open_question),
            "approx": approx,
            "recurrent": recurrent,
            "similarity": m.similarity.describe(),
            "decoding": None if self.decoding is None else self.decoding.to_dict(),
            "taylor_error": None
            if self.taylor_error is None
            else {"weight_error": self.taylor_error[0], "output_error": self.taylor_error[1]},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def bounds(
    m: Mechanism | str,
    B: float | None = None,
    eps: float | None = None,
    causal: str | None = None,
    d: int | None = None,
) -> Bounds:
    """The complexity report of ``m`` (a Mechanism or a zoo spec / polynomial string).

    Exact plan and cost; lower bounds inherited by reduction, with their chains; tight/gap/open
    and the open question; the approximation
    threshold (log n)^{1/k}; with ``B`` and ``eps`` (and ``d``, default 64) the Taylor
    degree, rank, error bound and crossover of the approximate algorithm; the
    recurrent form of the low-rank plan under ``causal="prefix"``.
    """
    if isinstance(m, str):
        m = zoo.from_spec(m)
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism or a mechanism spec, got {type(m).__name__}")
    if (B is None) != (eps is None):
        raise InputError("give both B and eps for the approximate algorithm (or neither)")
    if d is not None and (B is None):
        raise InputError("d is only used with B and eps")
    plan = exact_plan(m, causal)
    if B is not None and isinstance(m.similarity, FeatureMap):
        raise InputError(
            "a feature-map mechanism is computed exactly in linear time: there is nothing to approximate; "
            "drop B and eps"
        )
    approximation = None
    taylor = None
    low = low_rank_plan(m, causal)
    if B is not None:
        # the polynomial method of the exp form (degree from eps), beside the similarity's fixed order
        exp_form = m.replace(similarity=Exp()) if isinstance(m.similarity, Taylor) else m
        approximation = approximate(exp_form, B, eps, d=DEFAULT_D if d is None else d, causal=causal)
        if isinstance(m.similarity, Taylor):
            taylor = taylor_error(m, B, approximation.d)
        else:
            low = approximation.plan
    lower, unmasked_only = _lower.inherited(m, causal)
    return Bounds(
        mechanism=m,
        causal=causal,
        plan=plan,
        low_rank=low,
        lower=tuple(lower),
        lower_unmasked=tuple(unmasked_only),
        approx_lower=tuple(_lower.applicable(m, "approximate", causal)),
        approximation=approximation,
        decoding=Decoding.of(m) if m.similarity.low_rank else None,
        taylor_error=taylor,
    )


__all__ = ["Bounds", "bounds", "omega"]
