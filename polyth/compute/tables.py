"""Score tables as products of per-variable features.

A monomial ``c · Π_{a∈S} x_a^{p_a}`` contributes ``scale · c · Σ_k Π_{a∈S} Q(a)[l_a, k]^{p_a}``
to the score of a tuple (docs/design.md §1). All monomials with the same support S share one
log-factor table

    L_S(l_S) = Σ_j scale · c_j · Σ_k Π_{a∈S} Q(j, a)[l_a, k]^{p_{j,a}}
             = Σ_D Π_{a∈S} F_a[l_a, D]

with one feature array ``F_a`` per variable of the support, the monomials' blocks laid side by
side (D = |monomials on S| · d) and ``scale · c_j`` folded into the features of the support's
first variable. A support-2 table is then a GEMM ``F_a F_bᵀ``, which the flash pass computes on
the fly; larger supports are Hadamard products of rows against the last variable's features.

In per-channel mode every channel k is its own scalar problem: ``F_a`` has shape
(b, n, d, |monomials on S|) and ``L_{S,k}(l_S) = Σ_j Π_a F_a[l_a, k, j]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polyth.mechanism import Mechanism


@dataclass(frozen=True)
class SupportTable:
    """The log-factor table of one monomial support, as per-variable features."""

    support: tuple[int, ...]
    monomials: tuple[int, ...]
    features: dict[int, np.ndarray]

    @property
    def width(self) -> int:
        """Feature width D (or monomials per channel in per-channel mode)."""
        return next(iter(self.features.values())).shape[-1]


def support_tables(
    m: Mechanism, Q: tuple[np.ndarray, ...], scale: float, per_channel: bool | None = None
) -> list[SupportTable]:
    """Feature arrays for every support table of ``m``.

    ``Q`` holds (b, n, d) arrays in ``m.input_slots`` order; the result has the dtype of Q.
    ``per_channel`` overrides the mechanism's mode (an executor that folded the channels into
    the batch runs each channel as an ordinary d = 1 problem).
    """
    per_channel = m.per_channel if per_channel is None else per_channel
    slot_index = {slot: s for s, slot in enumerate(m.input_slots)}

    def projected(monomial: int, variable: int) -> np.ndarray:
        key = (monomial, variable) if m.untied else (None, variable)
        return Q[slot_index[key]]

    tables = []
    for support, monomials in m.support_groups:
        features = {}
        for position, a in enumerate(support):
            blocks = []
            for j in monomials:
                mono = m.monomials[j]
                block = projected(j, a) ** mono.powers[a]
                if position == 0:
                    block = block * (scale * mono.value)
                blocks.append(block)
            stacked = np.stack(blocks, axis=3) if per_channel else np.concatenate(blocks, axis=-1)
            features[a] = np.ascontiguousarray(stacked.astype(Q[0].dtype, copy=False))
        tables.append(SupportTable(support, monomials, features))
    return tables


def materialize(table: SupportTable, order: tuple[int, ...]) -> np.ndarray:
    """The full log-table over ``order`` (a permutation of the support), batch axis first.

    Shape (b, n, …, n) with one token axis per variable in ``order``, plus a trailing channel
    axis in per-channel mode. Costs n^|S| · D multiply-adds.
    """
    letters = "ijklmnopqrstuvwx"
    per_channel = next(iter(table.features.values())).ndim == 4
    operands, inputs = [], []
    for pos, a in enumerate(table.support):
        operands.append(table.features[a])
        inputs.append("z" + letters[pos] + ("cy" if per_channel else "y"))
    out = "z" + "".join(letters[table.support.index(a)] for a in order) + ("c" if per_channel else "")
    return np.einsum(",".join(inputs) + "->" + out, *operands, optimize=True)
