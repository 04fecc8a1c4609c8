"""The exceptions and warnings polyth raises.

Every error a user can cause by what they pass in is a :class:`PolyError`
(a ``ValueError``) whose message names the offending part and says what to do:

* :class:`InputError`: arrays, sizes or options that do not fit the mechanism;
* :class:`BudgetError` (an InputError): a computation refused before it starts, because its
  predicted peak memory or time exceeds what this machine has or what the caller allows;
* :class:`NotAvailableError` (an InputError): something this installation or machine does not
  have (a GPU backend, the torch extra).

:class:`NumericalError` (an ``ArithmeticError``) is raised instead of returning NaN or an
overflowed result. :class:`AccuracyWarning` says that an approximation's error bound at the
inputs' actual range exceeds what was asked for, or that no useful bound holds there.

The command line maps them to exit statuses (``polyth.cli.main``): 2 for bad input, 3 for
not available, 4 for refused by budget, 1 for a numerical failure or a failed check.
"""


class PolyError(ValueError):
    """A mechanism, polynomial, hypergraph or request that polyth cannot accept."""


class InputError(PolyError):
    """Arrays (Q, V), sizes or options that do not fit the mechanism."""


class BudgetError(InputError):
    """A call refused before any allocation: its predicted peak memory or time is over budget
    (sizes that do not fit this machine or the caller's limits, hence an InputError).

    The message gives the estimate (bytes, operations, time at this machine's measured rate)
    and the way out (a smaller n, the approximate method, a causal plan, a raised limit);
    ``cli_message`` says the same with the command line's flags.
    """

    def __init__(self, message: str, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = message if cli_message is None else cli_message


class NotAvailableError(InputError):
    """A backend, extra or construction that this machine or installation does not have (an
    InputError: the option asks for it)."""


class NumericalError(ArithmeticError):
    """A computation produced NaN or overflowed: raised instead of returning it."""


class AccuracyWarning(UserWarning):
    """An approximation's error bound at the inputs' range is above the requested eps, or infinite."""
