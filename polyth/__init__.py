"""polyth: complexity and expressivity of attention mechanisms.

The public names load on first use (PEP 562), so that ``import polyth`` stays fast and a
notebook pays for sympy, numba or torch only when it needs them::

    import polyth

    m = polyth.Mechanism.from_polynomial("x1*x2 + x2*x3")   # the mechanism layer
    b = polyth.bounds(m)                                    # the theory layer
    out = polyth.attention(m, Q, V)                         # the compute layer
    ref = polyth.reference.attention(m, Q, V)               # the independent oracle

Layers, from the bottom up: :mod:`polyth.mechanism`, :mod:`polyth.theory`,
:mod:`polyth.compute` (over the array kernels of ``polyth_kernels``) and the oracle
:mod:`polyth.reference`; then :mod:`polyth.nn` (torch), :mod:`polyth.tasks`,
:mod:`polyth.verify` and :mod:`polyth.cli`. See docs/design.md.
"""

from polyth.errors import (
    AccuracyWarning,
    BudgetError,
    InputError,
    NotAvailableError,
    NumericalError,
    PolyError,
)
from polyth.version import __version__

__all__ = [
    "AccuracyWarning",
    "BudgetError",
    "InputError",
    "Mechanism",
    "Monomial",
    "NotAvailableError",
    "NumericalError",
    "PolyError",
    "__version__",
    "attention",
    "bounds",
    "nn",
    "reference",
    "tasks",
    "verify",
    "zoo",
]


def __getattr__(name: str):
    """Load a public name on first use and keep it."""
    if name in ("Mechanism", "Monomial"):
        from polyth.mechanism import Mechanism, Monomial

        value = Mechanism if name == "Mechanism" else Monomial
    elif name == "zoo":
        from polyth.mechanism import zoo as value
    elif name == "bounds":
        from polyth.theory.bounds import bounds as value
    elif name == "attention":
        from polyth.compute import attention as value
    elif name == "reference":
        import polyth.reference as value
    elif name == "nn":
        import polyth.nn as value
    elif name == "tasks":
        import polyth.tasks as value
    elif name == "verify":
        import polyth.verify as value
    else:
        raise AttributeError(f"module 'polyth' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
