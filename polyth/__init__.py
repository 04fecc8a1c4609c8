"""polyth: complexity and expressivity of attention mechanisms."""

# modules: polyth.reference.attention, polyth.zoo.strassen(), polyth.plan.exact_plan, polyth.cost.cost
from polyth import cost, plan, reference, zoo
from polyth.bounds import bounds  # the function polyth.bounds(m), not the module
from polyth.errors import InputError, NumericalError, PolyError
from polyth.mechanism import Mechanism, Monomial

__version__ = "0.1.0"


def attention(m, Q, V, **options):
    """Compute mechanism ``m`` with the kernels: see :func:`polyth.dispatch.attention`.

    ``method="exact" | "naive" | "approx"``, ``backend="auto" | "cpu" | "cuda" | "cudasim"``,
    ``causal=None | "prefix" | "nested"``; approx takes ``B`` and ``eps`` or ``degree``.
    (Imported on first use, so that ``import polyth`` does not load numba.)
    """
    from polyth.dispatch import attention as run

    return run(m, Q, V, **options)


__all__ = [
    "InputError",
    "Mechanism",
    "Monomial",
    "NumericalError",
    "PolyError",
    "__version__",
    "attention",
    "bounds",
    "cost",
    "plan",
    "reference",
    "zoo",
]
