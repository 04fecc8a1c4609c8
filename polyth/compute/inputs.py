"""Validation of the arrays and options handed to an attention computation.

:func:`prepare` turns what a user passes to ``attention(m, Q, V, causal)`` into an
:class:`Inputs` record that every implementation (the brute-force reference and the
fast :func:`polyth.attention`) can trust:

- ``Q`` holds one projected input per *input slot* (:attr:`Mechanism.input_slots`):
  tied weights give one ``Q(a)`` per variable x1 … xt, untied weights one ``Q(m, a)``
  per monomial m and variable a of its support (docs/design.md §1);
- ``V`` maps each value variable to its ``V(a) ∈ R^{n×dv}``;
- every array is ``(n, ·)`` or, batched, ``(b, n, ·)``, real float32/float64, finite.

:func:`nested_parents` orients a connected tree polynomial away from the query x1,
the orientation of the ``causal="nested"`` mask ``l_child ≤ l_parent``;
:func:`fold_channels` turns a per-channel problem into d independent scalar ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx
import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth_kernels import all_finite

CAUSAL_MODES = (None, "prefix", "nested")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True, eq=False)
class Inputs:
    """Validated attention inputs, always batched.

    ``Q``: tuple of ``(b, n, d)`` arrays in ``m.input_slots`` order. ``V``: read-only
    mapping from a value variable's 0-based position to its ``(b, n, dv)`` array.
    ``batched``: whether the user passed ``(b, n, ·)`` arrays (else the batch axis, of
    size 1, was added here and :meth:`user_shape` removes it again).
    """

    Q: tuple[np.ndarray, ...]
    V: Mapping[int, np.ndarray]
    batched: bool
    b: int
    n: int
    d: int
    dv: int
    dtype: np.dtype
    causal: str | None

    def user_shape(self, out: np.ndarray) -> np.ndarray:
        """``out`` of shape ``(b, n, dv)`` in the shape the user's inputs had."""
        return out if self.batched else out[0]


def prepare(
    m: Mechanism,
    Q: Sequence,
    V: Mapping,
    causal: str | None = None,
    dtype: np.dtype | type | str | None = None,
) -> Inputs:
    """Check ``Q``, ``V`` and ``causal`` against mechanism ``m``; return :class:`Inputs`.

    ``dtype`` (float32 or float64) casts every array; ``None`` keeps the common dtype
    of the inputs (float64 when float32 and float64 are mixed). Raises
    :class:`~polyth.InputError` naming the offending array or option.
    """
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth.Mechanism, got {type(m).__name__}")
    causal = _check_causal(m, causal)
    q_arrays = _as_q_arrays(m, Q)
    v_arrays = _as_v_arrays(m, V)
    named = list(q_arrays) + list(v_arrays)

    ndims = {name: a.ndim for name, a in named}
    if len(set(ndims.values())) > 1:
        raise InputError(
            "mix of batched (3-D) and unbatched (2-D) arrays: "
            + ", ".join(f"{name} is {k}-D" for name, k in ndims.items())
            + "; give every Q and V array a batch axis, or none"
        )
    batched = named[0][1].ndim == 3
    if not batched:
        q_arrays = [(name, a[None]) for name, a in q_arrays]
        v_arrays = [(name, a[None]) for name, a in v_arrays]

    b, n, d = q_arrays[0][1].shape
    for name, a in q_arrays:
        if a.shape != (b, n, d):
            raise InputError(
                f"{name} has shape {_user_shape(a, batched)} but {q_arrays[0][0]} has "
                f"{_user_shape(q_arrays[0][1], batched)}: every Q array needs the same b, n and d"
            )
    dv = v_arrays[0][1].shape[2]
    for name, a in v_arrays:
        if a.shape[:2] != (b, n):
            expected = f"(b={b}, n={n}, dv)" if batched else f"(n={n}, dv)"
            raise InputError(
                f"{name} has shape {_user_shape(a, batched)}, expected {expected}: the same b and n as Q"
            )
        if a.shape[2] != dv:
            raise InputError(
                f"value widths differ: {v_arrays[0][0]} has dv = {dv}, {name} has dv = {a.shape[2]}; "
                "the values are multiplied element-wise, so all need the same dv"
            )
    if b < 1 or n < 1 or d < 1 or dv < 1:
        raise InputError(f"empty inputs: need b, n, d, dv ≥ 1, got b={b}, n={n}, d={d}, dv={dv}")
    if m.per_channel and dv != d:
        raise InputError(
            f"per-channel mode uses coordinate c of Q for output channel c, so dv must equal d; "
            f"got dv = {dv}, d = {d}"
        )

    common = np.result_type(*[a.dtype for _, a in named]) if dtype is None else _check_dtype(dtype)
    q_final = tuple(_cast(name, a, common) for name, a in q_arrays)
    v_final = {pos: _cast(name, a, common) for (name, a), pos in zip(v_arrays, m.values)}
    return Inputs(
        Q=q_final,
        V=MappingProxyType(v_final),
        batched=batched,
        b=b,
        n=n,
        d=d,
        dv=dv,
        dtype=np.dtype(common),
        causal=causal,
    )


def nested_parents(m: Mechanism) -> dict[int, int]:
    """Child position → parent position of the tree polynomial ``m`` rooted at the query.

    The edges of the primal graph are directed away from x1 (breadth-first search);
    ``causal="nested"`` keeps the tuples with ``l_child ≤ l_parent`` on every edge.
    """
    if not (m.is_tree and m.is_connected):
        raise InputError(
            'causal="nested" needs a connected tree polynomial (every monomial on at most two '
            f'variables, primal graph a tree); {m.polynomial} is not one: use causal="prefix"'
        )
    position = {name: a for a, name in enumerate(m.variables)}
    return {
        position[child]: position[parent]
        for child, parent in nx.bfs_predecessors(m.primal_graph, m.variables[0])
    }


def _check_causal(m: Mechanism, causal) -> str | None:
    if not (causal is None or isinstance(causal, str)) or causal not in CAUSAL_MODES:
        raise InputError(f'causal must be None, "prefix" or "nested", got {causal!r}')
    if causal == "nested":
        nested_parents(m)
    return causal


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise InputError(f"dtype {dtype!r} is not a numpy dtype; use float32 or float64") from exc
    if dt not in FLOAT_DTYPES:
        raise InputError(f"dtype {dt} is not supported; use float32 or float64")
    return dt


def _slot_names(m: Mechanism) -> list[str]:
    """A readable name for each input slot: ``x2`` (tied) or ``x2 in x1*x2`` (untied)."""
    names = []
    for mono, a in m.input_slots:
        if mono is None:
            names.append(m.variables[a])
        else:
            term = "*".join(
                m.variables[v] + (f"**{p}" if p > 1 else "")
                for v, p in enumerate(m.monomials[mono].powers)
                if p
            )
            names.append(f"{m.variables[a]} in monomial {mono} ({term})")
    return names


def _as_q_arrays(m: Mechanism, Q) -> list[tuple[str, np.ndarray]]:
    slots = _slot_names(m)
    if m.untied:
        why = "untied: one per (monomial, variable) pair in m.input_slots order: " + "; ".join(slots)
    else:
        why = "tied: one per variable " + ", ".join(m.variables)
    if isinstance(Q, (np.ndarray, str, bytes, Mapping)) or not isinstance(Q, Sequence):
        raise InputError(f"Q must be a list or tuple of {len(slots)} arrays ({why}), got {type(Q).__name__}")
    if len(Q) != len(slots):
        raise InputError(f"Q has {len(Q)} arrays, expected {len(slots)} ({why})")
    arrays = []
    for i, (slot, q) in enumerate(zip(slots, Q)):
        name = f"Q[{i}] ({slot})"
        a = _as_float_array(name, q)
        if a.ndim not in (2, 3):
            raise InputError(f"{name} has shape {a.shape}: expected (n, d) or (b, n, d)")
        arrays.append((name, a))
    return arrays


def _as_v_arrays(m: Mechanism, V) -> list[tuple[str, np.ndarray]]:
    """The value arrays in ``m.values`` order, keys checked against the value variables."""
    expected = [m.variables[a] for a in m.values]
    if not isinstance(V, Mapping):
        raise InputError(
            f"V must be a dict from value variable (1-based index or name) to an (n, dv) array; "
            f"this mechanism's value variables are {expected}; got {type(V).__name__}"
        )
    by_position: dict[int, object] = {}
    key_of: dict[int, object] = {}
    for key, array in V.items():
        pos = _value_key_position(m, key)
        if pos in by_position:
            raise InputError(
                f"V gives variable {m.variables[pos]} twice (keys {key_of[pos]!r} and {key!r}); keep one"
            )
        by_position[pos] = array
        key_of[pos] = key
    missing = [m.variables[a] for a in m.values if a not in by_position]
    extra = [m.variables[a] for a in sorted(by_position) if a not in m.values]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"not value variables: {extra}")
        raise InputError(
            f"V's keys must be exactly the value variables {expected}: {'; '.join(parts)} "
            "(choose the value variables with Mechanism.replace(values=...))"
        )
    arrays = []
    for a in m.values:
        name = f"V[{m.variables[a]}]"
        array = _as_float_array(name, by_position[a])
        if array.ndim not in (2, 3):
            raise InputError(f"{name} has shape {array.shape}: expected (n, dv) or (b, n, dv)")
        arrays.append((name, array))
    return arrays


def _value_key_position(m: Mechanism, key) -> int:
    if isinstance(key, str):
        if key not in m.variables:
            raise InputError(f"V key {key!r} is not a variable of the mechanism {list(m.variables)}")
        return m.variables.index(key)
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        if not 1 <= key <= m.t:
            raise InputError(f"V key {key} is out of range: value variables are indexed 1..{m.t} (x1 = 1)")
        return int(key) - 1
    raise InputError(f"V key {key!r} must be a variable name or a 1-based index")


def _as_float_array(name: str, x) -> np.ndarray:
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name} cannot be read as an array: {exc}") from exc
    kind = a.dtype.kind
    if kind == "O":
        raise InputError(f"{name} is an object array (ragged or mixed contents); pass a numeric array")
    if kind == "c":
        raise InputError(f"{name} is complex ({a.dtype}); attention inputs must be real float32 or float64")
    if kind in "iub":
        raise InputError(
            f"{name} has dtype {a.dtype}; pass float32 or float64 (e.g. np.asarray(x, dtype=np.float64))"
        )
    if a.dtype not in FLOAT_DTYPES:
        raise InputError(f"{name} has dtype {a.dtype}; only float32 and float64 are supported")
    if not all_finite(a):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"{name} contains NaN or Inf (first at index {tuple(int(i) for i in bad)})")
    return a


def _cast(name: str, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = a.astype(dtype, copy=False)
    if out is not a and not all_finite(out):
        raise InputError(f"{name} overflows {dtype} (entries beyond ±{np.finfo(dtype).max:.3g})")
    return out


def _user_shape(a: np.ndarray, batched: bool) -> tuple:
    return tuple(a.shape) if batched else tuple(a.shape[1:])


def fold_channels(inputs: Inputs) -> tuple[tuple[np.ndarray, ...], dict[int, np.ndarray]]:
    """Per-channel mode as an ordinary problem: channel c becomes batch entry (b, c), d = dv = 1."""

    def fold(x: np.ndarray) -> np.ndarray:
        b, n, d = x.shape
        return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(b * d, n, 1))

    return tuple(fold(q) for q in inputs.Q), {a: fold(v) for a, v in inputs.V.items()}


def unfold_channels(out: np.ndarray, inputs: Inputs) -> np.ndarray:
    """The inverse of :func:`fold_channels` on an output (b·d, n, 1) → (b, n, d)."""
    return out.reshape(inputs.b, inputs.d, inputs.n).transpose(0, 2, 1)
