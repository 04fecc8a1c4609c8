"""Tests of polyth.cost: the operation model against a literal execution, symbolic costs, memory.

The instrumented executor below runs each step of an exact plan with plain Python loops
over the tuples the step visits and counts every multiply-add and exp as it performs
it; the plan's predicted :func:`polyth.cost.operation_count` must equal that count, and
its output must equal the brute-force reference. Messages are kept as
(log-normaliser, normalised channel) pairs like the kernels do; that bookkeeping (logs,
divisions by the normaliser) is not counted, as :mod:`polyth.cost` documents.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth import InputError, Mechanism, reference, zoo
from polyth.theory import cost as C
from polyth.theory.plan import exact_plan, low_rank_plan, plan_with_order
from polyth.theory.rectangular import RectangularOmega


@dataclass(eq=False)
class Held:
    """A factor during execution: scope, log part L, channel part W, linear scalar S (dense arrays)."""

    scope: tuple[int, ...]
    L: np.ndarray | None = None
    W: np.ndarray | None = None
    S: np.ndarray | None = None
    factor: object = None  # the plan's Factor for initial tables and thresholds


class Counter:
    def __init__(self):
        self.madds = 0
        self.exps = 0


def _allowed(pairs, assignment: dict) -> bool:
    return all(assignment[c] <= assignment[p] for c, p in pairs if c in assignment and p in assignment)


class Executor:
    def __init__(self, plan, Q, V, scale):
        self.plan = plan
        self.m = plan.mechanism
        self.Q = Q
        self.n = Q[0].shape[0]
        self.scale = scale
        self.count = Counter()
        self.steps = []
        self.held: dict[int, Held] = {}
        for f in plan.factors:
            if f.kind == "value":
                (a,) = f.scope
                values = V[a + 1]
                ones = np.ones((self.n, 1))
                self.held[f.id] = Held(f.scope, W=np.concatenate([values, ones], axis=1), factor=f)
            else:
                self.held[f.id] = Held(f.scope, factor=f)

    # ------------------------------------------------------------- factor entries
    def _slot(self, i: int, a: int) -> int:
        slots = self.m.input_slots
        return slots.index((i, a)) if self.m.untied else a

    def table_entry(self, f, assignment) -> float:
        """Score table entry, counting one multiply-add per feature (d per merged monomial)."""
        total = 0.0
        for i in f.monomials:
            mono = self.m.monomials[i]
            product = np.ones(self.Q[0].shape[1])
            for a in mono.support:
                product = product * self.Q[self._slot(i, a)][assignment[a]] ** mono.powers[a]
            total += mono.value * float(product.sum())
            self.count.madds += self.Q[0].shape[1]
        return self.scale * total

    def _is_table(self, h: Held) -> bool:
        return h.factor is not None and h.factor.kind == "scores"

    def _is_threshold(self, h: Held) -> bool:
        return h.factor is not None and h.factor.kind == "threshold"

    def _has_log(self, h: Held) -> bool:
        return self._is_table(h) or h.L is not None

    def _pairs(self, items) -> list:
        pairs = []
        for h in items:
            if h.factor is not None:
                pairs.extend(h.factor.mask)
                if h.factor.threshold:
                    pairs.append(h.factor.threshold)
        return pairs

    def _materialise(self, h: Held) -> Held:
        """A dense log table over the table's own scope (D per entry)."""
        L = np.zeros((self.n,) * len(h.scope))
        for idx in itertools.product(range(self.n), repeat=len(h.scope)):
            L[idx] = self.table_entry(h.factor, dict(zip(h.scope, idx)))
        return Held(h.scope, L=L, factor=None)

    # ------------------------------------------------------------- unary combination
    def _combine_unary(self, unary, keep_log, C):
        """Per-key bias and weight of the factors on the eliminated variable alone."""
        n = self.n
        bias = None
        logs = []
        scalars = []
        channels = []
        for h in unary:
            if self._is_table(h):
                logs.append(np.array([self.table_entry(h.factor, {h.scope[0]: k}) for k in range(n)]))
            elif h.L is not None:
                logs.append(h.L)
            if h.W is not None:
                channels.append(h.W)
            elif h.S is not None:
                scalars.append(h.S)
        if logs:
            bias = logs[0].copy()
            for extra in logs[1:]:
                bias = bias + extra
                self.count.madds += n
        weight = None
        for p in scalars:
            if weight is None:
                weight = p.copy()
            else:
                weight = weight * p
                self.count.madds += n
        for p in channels:
            if weight is None:
                weight = p.copy()
            else:
                weight = (weight[:, None] if weight.ndim == 1 else weight) * p
                self.count.madds += n * C
        if bias is not None and not keep_log:
            e = np.exp(bias)
            self.count.exps += n
            if weight is not None:
                weight = weight * (e[:, None] if weight.ndim == 2 else e)
                self.count.madds += n * (C if weight.ndim == 2 else 1)
            else:
                weight = e
            bias = None
        return bias, weight

    # ------------------------------------------------------------- one tuple's product
    def _entry(self, items, bias, weight, b, assignment, on_the_fly):
        """exp(Σ logs)·Π scalars·Π channel vectors at one tuple (counted), or None when masked."""
        logs = []
        for h in items:
            if h in on_the_fly:
                logs.append(self.table_entry(h.factor, assignment))
            elif h.L is not None:
                logs.append(h.L[tuple(assignment[v] for v in h.scope)])
        if bias is not None:
            logs.append(bias[assignment[b]])
        scalars = [h.S[tuple(assignment[v] for v in h.scope)] for h in items if h.S is not None]
        channels = [h.W[tuple(assignment[v] for v in h.scope)] for h in items if h.W is not None]
        if weight is not None:
            (channels if weight.ndim == 2 else scalars).append(weight[assignment[b]])
        value = None
        if logs:
            total = logs[0]
            for x in logs[1:]:
                total += x
                self.count.madds += 1
            value = float(np.exp(total))
            self.count.exps += 1
        for s in scalars:
            if value is None:
                value = s
            else:
                value = value * s
                self.count.madds += 1
        vector = None
        for w in channels:
            if vector is None:
                vector = w.copy()
            else:
                vector = vector * w
                self.count.madds += len(w)
        return value, vector

    # ------------------------------------------------------------- steps
    def run(self):
        for step in self.plan.steps:
            before = (self.count.madds, self.count.exps)
            if step.kind == "normalize":
                out = self._normalize(step)
            elif step.kind == "matmul":
                self._matmul(step)
            else:
                self._loop(step)
            self.steps.append((self.count.madds - before[0], self.count.exps - before[1]))
        return out

    def _store(self, step, acc, channel):
        """Keep a message as (log-normaliser, normalised channel): uncounted bookkeeping."""
        out = step.output
        with np.errstate(divide="ignore", invalid="ignore"):
            if channel:
                norm = acc[..., -1]
                safe = np.where(norm > 0, norm, 1.0)
                held = Held(out.scope, L=np.log(np.where(norm > 0, norm, 0.0)), W=acc / safe[..., None])
            else:
                held = Held(out.scope, L=np.log(acc))
        if not step.output.log:  # a linear message: keep the product itself
            held = Held(out.scope, W=acc) if channel else Held(out.scope, S=acc)
        self.held[out.id] = held

    def _loop(self, step):
        b = step.eliminated
        items = [self.held[i] for i in step.inputs]
        unary = [h for h in items if h.scope == (b,)]
        others = [h for h in items if h.scope != (b,)]
        C = self.C
        partner = step.partner
        if partner is not None:
            consumed = next(h for h in others if self._is_threshold(h) and partner in h.scope)
            others = [h for h in others if h is not consumed]
            child, parent = consumed.factor.threshold
        keep_log = any(self._has_log(h) for h in others)
        bias, weight = self._combine_unary(unary, keep_log, C)
        loop = list(step.loop)
        pairs = self._pairs([h for h in others if h.factor is not None])
        others = [
            self._materialise(h) if self._is_table(h) and sorted(h.scope) != loop else h for h in others
        ]
        on_the_fly = [h for h in others if self._is_table(h)]
        channel = step.output.channel
        out_scope = step.output.scope
        acc = np.zeros((self.n,) * len(out_scope) + ((C,) if channel else ()))
        outer = [v for v in loop if v != b]
        for outer_idx in itertools.product(range(self.n), repeat=len(outer)):
            assignment = dict(zip(outer, outer_idx))
            keys = range(self.n)
            if partner is not None and child == partner:  # [l_p ≤ l_b]: scan downwards
                keys = reversed(range(self.n))
            running = np.zeros((C,) if channel else ())
            for key in keys:
                assignment[b] = key
                if not _allowed(pairs, assignment):
                    value = None
                else:
                    value, vector = self._entry(others, bias, weight, b, assignment, on_the_fly)
                    if vector is None:
                        running = running + value
                        self.count.madds += 1
                    else:  # acc += s · w: one fused multiply-add per column
                        running = running + (vector if value is None else value * vector)
                        self.count.madds += C
                if partner is None:
                    continue
                assignment[partner] = key
                acc[tuple(assignment[v] for v in out_scope)] = running
                del assignment[partner]
            if partner is None:
                acc[tuple(assignment[v] for v in out_scope)] = running
        self._store(step, acc, channel)
        for i in step.inputs:
            del self.held[i]

    @property
    def C(self) -> int:
        return self.dv + 1

    def _matmul(self, step):
        b = step.eliminated
        groups = [[self.held[i] for i in g] for g in step.groups]
        unary = [self.held[i] for i in step.inputs if self.held[i].scope == (b,)]
        scopes = [sorted({v for h in g for v in h.scope}) for g in groups]
        folded = 0 if (len(scopes[0]), scopes[0]) <= (len(scopes[1]), scopes[1]) else 1
        keep_log = any(self._has_log(h) for h in groups[folded])
        bias, weight = self._combine_unary(unary, keep_log, self.C)
        dense = []
        for k, (group, scope) in enumerate(zip(groups, scopes)):
            group = [self._materialise(h) if self._is_table(h) else h for h in group]
            pairs = self._pairs([h for h in groups[k] if h.factor is not None])
            channel = any(h.W is not None for h in group) or (
                k == folded and weight is not None and weight.ndim == 2
            )
            shape = (self.n,) * len(scope) + ((self.C,) if channel else ())
            array = np.zeros(shape)
            for idx in itertools.product(range(self.n), repeat=len(scope)):
                assignment = dict(zip(scope, idx))
                value, vector = self._entry(
                    group, bias if k == folded else None, weight if k == folded else None, b, assignment, []
                )
                if vector is not None and value is not None:
                    vector = value * vector
                    self.count.madds += self.C
                if not _allowed(pairs, assignment):
                    continue  # a mask entry is a zero, not an operation
                array[idx] = vector if channel else value
            dense.append((scope, array, channel))
        (s1, A, c1), (s2, B, c2) = dense
        batch = list(step.batch)
        left = [v for v in s1 if v != b and v not in batch]
        right = [v for v in s2 if v != b and v not in batch]
        channel = c1 or c2
        out_scope = step.output.scope
        acc = np.zeros((self.n,) * len(out_scope) + ((self.C,) if channel else ()))
        for idx in itertools.product(range(self.n), repeat=len(batch) + len(left) + len(right)):
            assignment = dict(zip(batch + left + right, idx))
            total = np.zeros((self.C,) if channel else ())
            for key in range(self.n):
                assignment[b] = key
                a_entry = A[tuple(assignment[v] for v in s1)]
                b_entry = B[tuple(assignment[v] for v in s2)]
                total = total + a_entry * b_entry
                self.count.madds += self.C if channel else 1
            acc[tuple(assignment[v] for v in out_scope)] = total
        self._store(step, acc, channel)
        for i in step.inputs:
            del self.held[i]

    def _normalize(self, step):
        items = [self.held[i] for i in step.inputs]
        channels = [h for h in items if h.W is not None]
        out = None
        for h in channels:
            w = h.W if h.scope else np.broadcast_to(h.W, (self.n, self.C))
            if out is None:
                out = w.copy()
            else:
                out = out * w
                self.count.madds += self.n * self.C
        self.count.madds += self.n * (self.C - 1)
        return out[:, :-1] / out[:, -1:]


def execute(plan, Q, V, scale, dv):
    """Run ``plan`` literally; return (output, per-step (madds, exps), total madds, total exps)."""
    executor = Executor(plan, Q, V, scale)
    executor.dv = dv
    out = executor.run()
    return out, executor.steps, executor.count.madds, executor.count.exps


# ------------------------------------------------------------------ the tests

N, D, DV = 3, 2, 2


def _run(m, causal, plan, seed=0):
    rng = np.random.default_rng(seed)
    Q = [rng.normal(size=(N, D)) * 0.7 for _ in m.input_slots]
    V = {a + 1: rng.normal(size=(N, DV)) for a in m.values}
    out, steps, _, _ = execute(plan, Q, V, m.scale_for(D), DV)
    ref = reference.attention(m, Q, V, causal=causal)
    predicted = [(row["madds"], row["exps"]) for row in C.operation_count(plan, N, D, DV).steps]
    return out, ref, steps, predicted


CASES = [
    ("self", None),
    ("path:3", None),
    ("path:4", None),
    ("star:4", None),
    ("strassen", None),
    ("tensor:3", None),
    ("cycle:4", None),
    ("clique:4", None),
    ("self", "prefix"),
    ("path:3", "prefix"),
    ("path:4", "prefix"),
    ("path:4", "nested"),
    ("strassen", "prefix"),
    ("tensor:3", "prefix"),
]


@pytest.mark.parametrize("spec,causal", CASES)
def test_best_plan_counts_what_a_literal_execution_does(spec, causal):
    m = zoo.from_spec(spec)
    plan = exact_plan(m, causal)
    out, ref, steps, predicted = _run(m, causal, plan)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert predicted == steps


@pytest.mark.parametrize(
    "text,values,untied,causal",
    [
        ("x1*x2 + 0.5*x2**2 - x3*x2 + x1*x3*x4", [1, 3], False, None),
        ("x1*x2 + x2*x3", [3], True, "prefix"),
        ("x1*x2 - x1**2 + 2*x2*x3", None, False, "nested"),
        ("x1*x2*x3 + x2*x3", None, False, None),
    ],
)
def test_every_order_counts_what_a_literal_execution_does(text, values, untied, causal):
    m = Mechanism.from_polynomial(text, values=values, untied=untied)
    for order in itertools.permutations(range(1, m.t)):
        plan = plan_with_order(m, order, causal)
        out, ref, steps, predicted = _run(m, causal, plan, seed=len(order))
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
        assert predicted == steps, [m.variables[v] for v in order]


@st.composite
def hypergraphs(draw, max_t=4):
    t = draw(st.integers(2, max_t))
    edges = draw(
        st.lists(
            st.lists(st.integers(1, t), min_size=1, max_size=3, unique=True).map(tuple),
            min_size=1,
            max_size=4,
        )
    )
    edges.append((1, draw(st.integers(2, t))))
    edges += [(v,) for v in range(2, t + 1)]  # every variable appears
    return Mechanism.from_hypergraph(edges)


@settings(max_examples=15)
@given(hypergraphs(), st.sampled_from([None, "prefix"]))
def test_random_hypergraph_plans_count_what_they_do(m, causal):
    plan = exact_plan(m, causal)
    out, ref, steps, predicted = _run(m, causal, plan)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)
    assert predicted == steps


@pytest.mark.parametrize("spec,causal", CASES)
def test_symbolic_cost_at_omega_3_is_the_operation_count(spec, causal):
    m = zoo.from_spec(spec)
    plan = exact_plan(m, causal)
    for n_, d_, dv_ in [(5, 3, 2), (64, 16, 8)]:
        value = C.cost(plan).subs({C.omega: 3, C.n: n_, C.d: d_, C.dv: dv_})
        assert value == C.operation_count(plan, n_, d_, dv_).total


def test_exponents_symbolic_and_numeric():
    strassen = exact_plan(zoo.strassen())
    assert C.exponent(strassen) == C.omega
    assert C.exponent_value(strassen) == pytest.approx(2.371339)
    assert C.exponent_value(strassen, 3) == 3
    assert C.exponent(exact_plan(zoo.self_attention())) == 2
    clique = exact_plan(zoo.clique(4))
    # one step multiplies an n × n by an n × n² matrix: ω(1, 1, 2), not the square-block ω + 1
    assert C.exponent(clique) == RectangularOmega(1, 1, 2)
    assert C.exponent_value(clique, 3) == 4 and C.exponent_value(clique, 2.371339) == pytest.approx(3.371339)
    assert C.exponent_value(clique) == pytest.approx(3.251640)  # Le Gall & Urrutia 2018


def test_leading_exponent_keeps_only_undominated_terms():
    terms = C.Terms.power(9) + C.Terms.power(0, 4) + C.Terms.power(2) + C.Terms.power(1, 1)
    assert terms.leading_exponent() == sympy.Max(9, 4 * C.omega)
    assert (C.Terms.power(3) + C.Terms.power(1, 1)).leading_exponent() == C.omega + 1
    assert C.Terms.power(2, 0, C.d).evaluate({"n": 10, "d": 3}) == 300


def test_peak_memory_tree_is_linear_strassen_quadratic():
    """The entries the exact executor holds at the plan's peak, counted by hand from its arrays."""
    tree = exact_plan(zoo.path(5), "nested")
    assert sympy.degree(C.peak_memory(tree), C.n) == 1
    # first flash pass: 4 lazy tables of 2 feature blocks (n·d each), 4 zero log-tables of the
    # values (n each) and its output message (a log and dv ratios: C = dv + 1 columns)
    assert C.peak_memory_count(tree, 100, 8, 8) == 100 * (4 * 2 * 8 + 4 + 9)
    # Strassen peaks at the contraction of x3: the message over (x1, x3) from the matmul and the
    # joint product it builds (C = dv + 1 columns each), the table L13 evaluated into it (n²), its
    # output (n·C), beside L13's lazy features (2·n·d) and V3's zero log-table (n)
    C_ = C.dv + 1
    expected = C.n**2 * (2 * C_ + 1) + C.n * (C_ + 2 * C.d + 1)
    assert sympy.expand(C.peak_memory(exact_plan(zoo.strassen())) - expected) == 0


def test_per_channel_elementwise_attention_is_quadratic_in_n_linear_in_d():
    m = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)
    plan = exact_plan(m)
    assert C.exponent(plan) == 2
    expr = sympy.expand(C.cost(plan))
    assert expr.coeff(C.n, 2) == 5 * C.d  # per channel and pair: score, bias, exp, value and denominator


def test_linear_attention_recurrent_form():
    plan = low_rank_plan(zoo.self_attention(), "prefix")
    form = C.recurrent_form(plan)
    assert form is not None
    assert sympy.expand(form.state_size - C.r * (C.dv + 1)) == 0
    assert sympy.degree(form.per_token, C.n) == 0
    assert C.recurrent_form(exact_plan(zoo.self_attention(), "prefix")) is None
    assert C.recurrent_form(low_rank_plan(zoo.self_attention())) is None


def test_naive_cost_and_bad_sizes():
    m = zoo.tensor(3)
    assert sympy.degree(sympy.expand(C.naive_cost(m)), C.n) == 3
    with pytest.raises(InputError, match="n must be a positive integer"):
        C.operation_count(exact_plan(m), 0, 4, 4)
    with pytest.raises(InputError, match="value for r"):
        C.operation_count(low_rank_plan(m), 8, 4, 4)
    json.dumps(C.operation_count(exact_plan(m), 8, 4, 4).steps)
