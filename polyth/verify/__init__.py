"""Verification: polyth's predictions against measurements on this machine.

- :mod:`polyth.verify.fit`: log-log exponent fit and time-against-operation-count fit;
- :mod:`polyth.verify.runtime`: :func:`verify_runtime`, timing over a grid of n;
- :mod:`polyth.verify.approx_check`: :func:`check_approx`, :func:`sweep_B`, measured
  approximation error against the predicted bound;
- :mod:`polyth.verify.plots`: PNG figures;
- :mod:`polyth.verify.report`: :func:`write_report`, the ``polyth report`` main job.
"""

from polyth.verify.approx_check import ApproxCheck, check_approx, sweep_B
from polyth.verify.fit import CountFit, ExponentFit, fit_exponent, fit_operation_count
from polyth.verify.runtime import RuntimeVerification, verify_runtime


def write_report(*args, **kwargs):
    """Run the report and write it (see :func:`polyth.verify.report.write_report`)."""
    from polyth.verify.report import write_report as run

    return run(*args, **kwargs)


__all__ = [
    "ApproxCheck",
    "CountFit",
    "ExponentFit",
    "RuntimeVerification",
    "check_approx",
    "fit_exponent",
    "fit_operation_count",
    "sweep_B",
    "verify_runtime",
    "write_report",
]
