"""The backend a computation runs on: ``auto | cpu | cuda | cudasim`` (docs/design.md §5).

The kernels decide what this machine can run (:mod:`polyth_kernels.backend`); here a backend
that cannot run becomes a :class:`polyth.NotAvailableError` that says why and what to pass
instead.

Example::

    >>> resolve("cpu")
    'cpu'
"""

from __future__ import annotations

import polyth_kernels
from polyth.errors import InputError, NotAvailableError


def resolve(backend: str) -> str:
    """The backend that will run for ``backend`` (``auto`` picks cuda when a GPU is present):
    an unknown name is an :class:`~polyth.InputError`, a known one this machine cannot run a
    :class:`~polyth.NotAvailableError`."""
    if backend not in polyth_kernels.backend.BACKENDS:
        raise InputError(
            f"unknown backend {backend!r}; choose one of {', '.join(polyth_kernels.backend.BACKENDS)}"
        )
    try:
        return polyth_kernels.resolve_backend(backend)
    except polyth_kernels.BackendError as exc:
        raise NotAvailableError(str(exc)) from None


def available() -> tuple[str, ...]:
    """The backends this machine can run."""
    return polyth_kernels.available_backends()
