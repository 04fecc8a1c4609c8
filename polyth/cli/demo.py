"""``polyth demo``: the zoo, each mechanism checked against an independent closed form.

For every mechanism of the demo the brute-force oracle :func:`polyth.reference.attention`
(docs/design.md §1: ``Att[l1] = Σ exp(S(l)) ⊙_a V(a)[l_a] / Σ exp(S(l))`` over all tuples)
is compared, on a small random instance with the default scale 1/d, with a closed
form written here in plain numpy from the mechanism's textbook definition:

- self-attention ``x1·x2``: the direct softmax ``softmax(Q1 Q2ᵀ / d) V2`` (Vaswani et al. 2017);
- a path ``x1·x2 + … + x(t-1)·xt``: nested softmaxes, leaf first. Summing out ``xt``
  for each position of ``x(t-1)`` is a softmax whose log-normaliser becomes a bias on
  the keys of the next softmax and whose output, times ``V(t-1)``, becomes its values
  (message passing, Chakrabarti, Pitassi, Alman 2026);
- a star ``x1·x2 + … + x1·xk``: ``exp(S)`` factorises over the leaves, so the output is
  the element-wise product of k−1 independent self-attentions;
- 3-tensor attention ``x1·x2·x3``: an einsum of the order-3 inner product over all triples;
- graphs with cycles (Strassen, cycle, clique): ``S = Σ_{edges (a,b)} Qa Qbᵀ / d``
  broadcast over all tuples and contracted with the values by one explicit einsum.

The maximum absolute difference is printed with PASS or FAIL; the exit status is 1
when any mechanism fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from polyth.cli.arguments import say
from polyth.errors import InputError

TOLERANCE = 1e-10
_LETTERS = "ijklmnop"

Arrays = list[np.ndarray]
ClosedForm = Callable[[Arrays, dict[int, np.ndarray], int], np.ndarray]


def _softmax_attention(queries, keys, values, bias, d):
    """``softmax(queries keysᵀ / d + bias) values`` and the per-query log-normaliser."""
    scores = queries @ keys.T / d + bias[None, :]
    peak = scores.max(axis=1, keepdims=True)
    weights = np.exp(scores - peak)
    total = weights.sum(axis=1, keepdims=True)
    return weights @ values / total, (peak + np.log(total))[:, 0]


def self_attention_softmax(Q: Arrays, V: dict[int, np.ndarray], d: int) -> np.ndarray:
    """``softmax(Q1 Q2ᵀ / d) V2``."""
    return _softmax_attention(Q[0], Q[1], V[2], np.zeros(len(Q[1])), d)[0]


def path_nested_softmax(Q: Arrays, V: dict[int, np.ndarray], d: int) -> np.ndarray:
    """Path ``x1x2 + … + x(t-1)xt`` by nested softmaxes from the leaf xt to the query x1.

    ``message(t) = V(t)``, ``bias(t) = 0``; for a child c with parent p = c − 1,
    ``out, lse = softmax(Q(p) Q(c)ᵀ / d + bias(c)) message(c)`` gives
    ``message(p) = V(p) ⊙ out`` and ``bias(p) = lse``; the query's softmax is the output.
    """
    t = len(Q)
    message, bias = V[t], np.zeros(len(Q[t - 1]))
    for child in range(t, 2, -1):
        parent = child - 1
        out, bias = _softmax_attention(Q[parent - 1], Q[child - 1], message, bias, d)
        message = V[parent] * out
    return _softmax_attention(Q[0], Q[1], message, bias, d)[0]


def star_product(Q: Arrays, V: dict[int, np.ndarray], d: int) -> np.ndarray:
    """Star ``x1x2 + … + x1xk``: ``⊙_a softmax(Q1 Qaᵀ / d) Va`` over the leaves a = 2 … k."""
    out = 1.0
    for a in range(2, len(Q) + 1):
        out = out * _softmax_attention(Q[0], Q[a - 1], V[a], np.zeros(len(Q[a - 1])), d)[0]
    return out


def tensor3_einsum(Q: Arrays, V: dict[int, np.ndarray], d: int) -> np.ndarray:
    """``S[i,j,k] = Σ_c Q1[i,c] Q2[j,c] Q3[k,c] / d``; output ``Σ_jk e^S V2[j] ⊙ V3[k] / Σ_jk e^S``."""
    scores = np.einsum("ic,jc,kc->ijk", Q[0], Q[1], Q[2]) / d
    weights = np.exp(scores - scores.max(axis=(1, 2), keepdims=True))
    return np.einsum("ijk,jx,kx->ix", weights, V[2], V[3]) / weights.sum(axis=(1, 2))[:, None]


def graph_einsum(edges: list[tuple[int, int]]) -> ClosedForm:
    """Brute force for ``h = Σ_{(a,b) ∈ edges} xa·xb`` by one einsum over all tuples."""

    def closed_form(Q: Arrays, V: dict[int, np.ndarray], d: int) -> np.ndarray:
        t, n = len(Q), len(Q[0])
        scores = np.zeros((n,) * t)
        for a, b in edges:
            shape = [1] * t
            shape[a - 1] = shape[b - 1] = n
            gram = Q[a - 1] @ Q[b - 1].T / d
            scores = scores + (gram if a < b else gram.T).reshape(shape)
        others = tuple(range(1, t))
        weights = np.exp(scores - scores.max(axis=others, keepdims=True))
        letters = _LETTERS[:t]
        subscripts = ",".join([letters] + [letters[a - 1] + "x" for a in range(2, t + 1)])
        out = np.einsum(f"{subscripts}->ix", weights, *[V[a] for a in range(2, t + 1)])
        return out / weights.sum(axis=others)[:, None]

    return closed_form


@dataclass(frozen=True)
class DemoCase:
    spec: str
    closed_form: ClosedForm
    method: str


CASES = [
    DemoCase("self", self_attention_softmax, "direct softmax"),
    DemoCase("path:3", path_nested_softmax, "two nested softmaxes"),
    DemoCase("path:4", path_nested_softmax, "three nested softmaxes"),
    DemoCase("star:4", star_product, "product of 3 self-attentions"),
    DemoCase("strassen", graph_einsum([(1, 2), (2, 3), (3, 1)]), "einsum over all triples"),
    DemoCase("tensor:3", tensor3_einsum, "einsum over all triples"),
    DemoCase("cycle:4", graph_einsum([(1, 2), (2, 3), (3, 4), (4, 1)]), "einsum over all 4-tuples"),
    DemoCase(
        "clique:4",
        graph_einsum(list(itertools.combinations(range(1, 5), 2))),
        "einsum over all 4-tuples",
    ),
]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="show the zoo and check the brute-force reference against closed forms",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--n", type=int, default=7, help="sequence length n (2 … 24, default 7)")
    parser.add_argument("--d", type=int, default=4, help="head dimension d (1 … 64, default 4)")
    parser.add_argument("--dv", type=int, default=3, help="value width d_v (1 … 64, default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=run)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InputError(f"--{name} must be between {low} and {high}, got {value}")


def structure(m, source: str | None) -> list[str]:
    """A compact block describing ``m``: name and source, polynomial, shape of its hypergraph."""

    edges = " ".join("{" + ",".join(m.variables[a] for a in s) + "}" for s in m.supports)
    kind = "tree" if m.is_tree else "not a tree"
    return [
        f"{m.name}  ({source})" if source else str(m.name),
        f"  {m.text()}",
        f"  t = {m.t} variables, degree {m.k}, {kind}; hyperedges {edges}",
    ]


def check(case: DemoCase, rng: np.random.Generator, n: int, d: int, dv: int) -> tuple[list[str], bool]:
    """Run one case: its structure lines, the comparison line, and whether it passed."""
    from polyth import reference
    from polyth.mechanism import zoo

    m = zoo.from_spec(case.spec)
    Q = [rng.standard_normal((n, d)) for _ in m.input_slots]
    V = {a + 1: rng.standard_normal((n, dv)) for a in m.values}
    expected = case.closed_form(Q, V, d)
    got = reference.attention(m, Q, V)
    difference = float(np.max(np.abs(got - expected)))
    passed = difference <= TOLERANCE
    lines = structure(m, zoo.source(case.spec))
    lines.append(
        f"  reference vs {case.method}: max |diff| = {difference:.1e}  {'PASS' if passed else 'FAIL'}"
    )
    return lines, passed


def run(args) -> int:
    _check_range("n", args.n, 2, 24)
    _check_range("d", args.d, 1, 64)
    _check_range("dv", args.dv, 1, 64)
    rng = np.random.default_rng(args.seed)
    say(
        "polyth: attention mechanisms as polynomials. Each zoo mechanism below is computed by the "
        "brute-force reference (every tuple, float64) and by an independent closed form."
    )
    say(f"n = {args.n}, d = {args.d}, d_v = {args.dv}, scale 1/d, seed {args.seed}\n")
    failures = 0
    for case in CASES:
        lines, passed = check(case, rng, args.n, args.d, args.dv)
        failures += not passed
        for line in lines:
            say(line)
        say()
    if failures:
        say(f"FAIL: {failures} of {len(CASES)} mechanisms disagree with their closed form")
        return 1
    say(f"PASS: all {len(CASES)} mechanisms agree with their closed forms (tolerance {TOLERANCE:g})")
    return 0
