"""The exceptions polyth raises for bad user input.

Every error a user can cause by what they pass in is a :class:`PolyError`
(a ``ValueError``) whose message names the offending part and says what to do.
"""


class PolyError(ValueError):
    """A mechanism, polynomial or hypergraph that polyth cannot accept."""


class InputError(PolyError):
    """Arrays (Q, V), sizes or options that do not fit the mechanism."""


class NumericalError(ArithmeticError):
    """A computation produced NaN or overflowed: raised instead of returning it."""
