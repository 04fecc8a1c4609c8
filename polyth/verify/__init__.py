"""Verification: polyth's predictions against measurements on this machine (docs/design.md §6).

- :mod:`polyth.verify.defaults`: the settings every command shares (head dimension, ε, B sweep);
- :mod:`polyth.verify.load`: the load a measurement runs under and the threads it uses;
- :mod:`polyth.verify.grid`: the sizes of a runtime check, chosen by a time budget;
- :mod:`polyth.verify.fit`: the runtime estimator (fastest repeat, overhead, exponent, interval);
- :mod:`polyth.verify.verdict`: PASS, FAIL or INCONCLUSIVE with the reason;
- :mod:`polyth.verify.runtime`: :func:`verify_runtime`, the runtime check;
- :mod:`polyth.verify.adversarial`, :mod:`polyth.verify.approx_check`: :func:`check_approx`,
  :func:`sweep_B`, the measured approximation error against the predicted bound;
- :mod:`polyth.verify.plots`: PNG figures;
- :mod:`polyth.verify.report`: :func:`write_report`, the ``polyth report`` main job.
"""

from polyth.verify.approx_check import ApproxCheck, check_approx, sweep_B
from polyth.verify.fit import CountFit, Estimate, ExponentFit, estimate, fit_exponent, fit_operation_count
from polyth.verify.runtime import RuntimeVerification, verify_runtime
from polyth.verify.verdict import Verdict


def write_report(*args, **kwargs):
    """Run the report and write it (see :func:`polyth.verify.report.write_report`)."""
    from polyth.verify.report import write_report as run

    return run(*args, **kwargs)


__all__ = [
    "ApproxCheck",
    "CountFit",
    "Estimate",
    "ExponentFit",
    "RuntimeVerification",
    "Verdict",
    "check_approx",
    "estimate",
    "fit_exponent",
    "fit_operation_count",
    "sweep_B",
    "verify_runtime",
    "write_report",
]
