"""polyth: complexity and expressivity of attention mechanisms."""

from polyth import reference, zoo  # modules: polyth.reference.attention, polyth.zoo.strassen()
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
    "reference",
    "zoo",
]
