"""The reference's own checks of ``Q``, ``V`` and ``causal``, written apart from the compute layer.

A mechanism with variables x1 … xt (x1 the query) is fed

- ``Q``: a list or tuple with one array per input slot of ``m.input_slots``: ``Q(a)`` for
  each variable a (tied), or ``Q(m, a)`` for each monomial m and variable a of its
  support (untied);
- ``V``: a dict whose keys are exactly the value variables ``m.values``, each given by its
  1-based index or its name, mapping to ``V(a)``;
- arrays that are all ``(n, ·)`` or all ``(b, n, ·)``: the Q arrays share ``(b, n, d)``,
  the V arrays share ``(b, n, dv)``, with ``b, n, d, dv ≥ 1`` and ``dv = d`` per channel;
  real float32 or float64 and finite; the reference computes in float64;
- ``causal``: ``None``, ``"prefix"`` (every ``l_a ≤ l1``) or ``"nested"`` (``l_child ≤
  l_parent`` on each edge of a connected tree polynomial, directed away from x1).

Any violation is an :class:`~polyth.errors.InputError` naming the array, key or option at
fault. This module shares no code with :mod:`polyth.compute.inputs`, so that a mistake in
one is caught by the other.

>>> import numpy as np
>>> from polyth.mechanism import Mechanism
>>> m = Mechanism.from_polynomial("x1*x2 + x2*x3")
>>> x = np.ones((4, 2))
>>> checked = check(m, [x, x, x], {2: x, "x3": x}, causal="nested")
>>> checked.Q[0].shape, sorted(checked.V), checked.parents
((1, 4, 2), [1, 2], {1: 0, 2: 1})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism

CAUSAL = (None, "prefix", "nested")


@dataclass(frozen=True)
class Checked:
    """Validated inputs, float64 and batched: ``Q[i]`` is ``(b, n, d)`` for slot i of
    ``m.input_slots``, ``V[a]`` is ``(b, n, dv)`` for value position a (0-based).

    ``parents``: child → parent positions of the nested mask (``None`` unless
    ``causal == "nested"``). ``batched``: whether the user's arrays were 3-D.
    """

    Q: tuple[np.ndarray, ...]
    V: dict[int, np.ndarray]
    b: int
    n: int
    d: int
    dv: int
    causal: str | None
    parents: dict[int, int] | None
    batched: bool

    def unbatch(self, out: np.ndarray) -> np.ndarray:
        """``out`` of shape ``(b, n, ·)`` back in the user's shape (drop the batch axis if 2-D was given)."""
        return out if self.batched else out[0]


def check(m: Mechanism, Q, V, causal=None) -> Checked:
    """Validate ``Q``, ``V`` and ``causal`` for ``m`` (rules in the module docstring); float64 copies."""
    if not isinstance(m, Mechanism):
        raise InputError(f"the reference needs a polyth.Mechanism, got {type(m).__name__}")
    if not (causal is None or (isinstance(causal, str) and causal in CAUSAL)):
        raise InputError(f'causal must be None, "prefix" or "nested", got {causal!r}')
    parents = tree_parents(m) if causal == "nested" else None

    named = _q_arrays(m, Q) + _v_arrays(m, V)
    dims = {a.ndim for _, a in named}
    if len(dims) > 1:
        listing = ", ".join(f"{name} is {a.ndim}-D" for name, a in named)
        raise InputError(f"mix of 2-D and 3-D arrays ({listing}); give all of them a batch axis or none")
    batched = dims == {3}
    if not batched:
        named = [(name, a[None]) for name, a in named]
    slots = len(m.input_slots)
    q_named, v_named = named[:slots], named[slots:]

    first, q0 = q_named[0]
    b, n, d = q0.shape
    for name, a in q_named[1:]:
        if a.shape != q0.shape:
            raise InputError(
                f"{name} has shape {_shown(a, batched)} but {first} has {_shown(q0, batched)}; "
                "all Q arrays need the same b, n and d"
            )
    v_first, v0 = v_named[0]
    dv = v0.shape[2]
    for name, a in v_named:
        if a.shape[:2] != (b, n):
            want = f"(b={b}, n={n}, dv)" if batched else f"(n={n}, dv)"
            raise InputError(f"{name} has shape {_shown(a, batched)}; expected {want}, the b and n of Q")
        if a.shape[2] != dv:
            raise InputError(
                f"{name} has dv = {a.shape[2]} but {v_first} has dv = {dv}; the values are multiplied "
                "element-wise, so give them all the same width"
            )
    if min(b, n, d, dv) == 0:
        raise InputError(f"empty inputs (b={b}, n={n}, d={d}, dv={dv}); every size must be at least 1")
    if m.per_channel and dv != d:
        raise InputError(
            f"per-channel mechanism: output channel c uses coordinate c of Q, so dv must equal d "
            f"(got dv = {dv}, d = {d})"
        )
    as64 = [a.astype(np.float64) for _, a in named]
    return Checked(
        Q=tuple(as64[:slots]),
        V=dict(zip(m.values, as64[slots:])),
        b=b,
        n=n,
        d=d,
        dv=dv,
        causal=causal,
        parents=parents,
        batched=batched,
    )


def tree_parents(m: Mechanism) -> dict[int, int]:
    """Child → parent (0-based positions) of a connected tree polynomial, rooted at the query x1.

    A breadth-first search from the query ``m.variables[0]`` over the primal graph directs
    each edge away from x1 and gives every other variable its parent; ``causal="nested"``
    keeps the tuples with ``l_child ≤ l_parent`` on every edge.

    >>> tree_parents(Mechanism.from_polynomial("x1*x2 + x2*x3 + x2*x4"))
    {1: 0, 2: 1, 3: 1}
    """
    if not (m.is_tree and m.is_connected):
        raise InputError(
            f'causal="nested" needs a connected tree polynomial (monomials on at most two variables, '
            f'primal graph a tree); {m.polynomial} is not one; use causal="prefix" or None'
        )
    index = {name: a for a, name in enumerate(m.variables)}
    parents = {index[child]: index[parent] for parent, child in nx.bfs_edges(m.primal_graph, m.variables[0])}
    return dict(sorted(parents.items()))


def _slot_label(m: Mechanism, mono: int | None, a: int) -> str:
    if mono is None:
        return m.variables[a]
    factors = [
        m.variables[v] + (f"**{p}" if p > 1 else "") for v, p in enumerate(m.monomials[mono].powers) if p
    ]
    return f"{m.variables[a]} in monomial {mono} ({'*'.join(factors)})"


def _q_arrays(m: Mechanism, Q) -> list[tuple[str, np.ndarray]]:
    labels = [_slot_label(m, mono, a) for mono, a in m.input_slots]
    if m.untied:
        layout = "untied: one per (monomial, variable) pair, in m.input_slots order: " + "; ".join(labels)
    else:
        layout = "tied: one per variable " + ", ".join(m.variables)
    if not isinstance(Q, (list, tuple)):
        raise InputError(
            f"Q must be a list or tuple of {len(labels)} arrays ({layout}), got {type(Q).__name__}"
        )
    if len(Q) != len(labels):
        raise InputError(f"Q has {len(Q)} arrays, expected {len(labels)} ({layout})")
    return [
        _array(f"Q[{i}] ({label})", x, "(n, d) or (b, n, d)") for i, (label, x) in enumerate(zip(labels, Q))
    ]


def _v_arrays(m: Mechanism, V) -> list[tuple[str, np.ndarray]]:
    """The value arrays in ``m.values`` order, after matching V's keys to the value variables."""
    wanted = [m.variables[a] for a in m.values]
    if not isinstance(V, Mapping):
        raise InputError(
            f"V must be a dict from value variable (1-based index or name) to array, with keys {wanted}; "
            f"got {type(V).__name__}"
        )
    given: dict[int, object] = {}
    keys: dict[int, object] = {}
    for key, x in V.items():
        a = _position(m, key)
        if a in given:
            raise InputError(
                f"V gives variable {m.variables[a]} twice (keys {keys[a]!r} and {key!r}); keep one"
            )
        given[a], keys[a] = x, key
    missing = [m.variables[a] for a in m.values if a not in given]
    extra = [m.variables[a] for a in sorted(given) if a not in m.values]
    if missing or extra:
        raise InputError(
            f"V's keys must be exactly the value variables {wanted}"
            + (f"; missing {missing}" if missing else "")
            + (f"; not value variables: {extra}" if extra else "")
            + " (Mechanism.replace(values=...) changes which variables carry values)"
        )
    return [_array(f"V[{m.variables[a]}]", given[a], "(n, dv) or (b, n, dv)") for a in m.values]


def _position(m: Mechanism, key) -> int:
    """0-based position of a V key: a variable name, or a 1-based index (x1 = 1)."""
    if isinstance(key, str):
        if key not in m.variables:
            raise InputError(
                f"V key {key!r} is not a variable of the mechanism; its variables are {list(m.variables)}"
            )
        return m.variables.index(key)
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        if not 1 <= key <= m.t:
            raise InputError(f"V key {key} is out of range: value variables are indexed 1..{m.t} (x1 = 1)")
        return int(key) - 1
    raise InputError(f"V key {key!r} must be a variable name or a 1-based index, not {type(key).__name__}")


def _array(name: str, x, shapes: str) -> tuple[str, np.ndarray]:
    """``x`` as a finite float32/float64 array of 2 or 3 dimensions, else InputError."""
    try:
        a = np.asarray(x)
    except Exception as exc:  # any failure to convert is the caller's input, not our bug
        raise InputError(f"{name} cannot be read as an array ({exc}); pass a numpy float array") from None
    kind = a.dtype.kind
    if kind == "O":
        raise InputError(f"{name} is an object array (ragged rows or mixed contents); pass a float array")
    if kind == "c":
        raise InputError(f"{name} is complex ({a.dtype}); attention inputs must be real float32 or float64")
    if a.dtype not in (np.float32, np.float64):
        raise InputError(f"{name} has dtype {a.dtype}; pass float32 or float64 (np.asarray(x, dtype=float))")
    if a.ndim not in (2, 3):
        raise InputError(f"{name} has shape {a.shape}; expected {shapes}")
    finite = np.isfinite(a)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise InputError(f"{name} contains NaN or Inf (first at index {where}); pass finite values")
    return name, a


def _shown(a: np.ndarray, batched: bool) -> tuple[int, ...]:
    """The shape the user gave (without the batch axis added for 2-D inputs)."""
    return tuple(a.shape) if batched else tuple(a.shape[1:])
