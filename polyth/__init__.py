"""polyth: complexity and expressivity of attention mechanisms."""

# modules: polyth.reference.attention, polyth.zoo.strassen(), polyth.plan.exact_plan, polyth.cost.cost
from polyth import cost, plan, reference, zoo
from polyth.bounds import bounds  # the function polyth.bounds(m), not the module
from polyth.errors import InputError, NumericalError, PolyError
from polyth.mechanism import Mechanism, Monomial

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "Mechanism",
    "Monomial",
    "NumericalError",
    "PolyError",
    "__version__",
    "bounds",
    "cost",
    "plan",
    "reference",
    "zoo",
]
