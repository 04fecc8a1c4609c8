"""Test configuration.

The CUDA kernels run under numba's simulator in CI: it must be switched on before
numba is imported, so this happens first. Set POLYTH_TEST_REAL_CUDA=1 on a machine
with a GPU to run the same kernel and attention tests on the hardware instead
(tests/backends.py chooses the backends from the environment).
"""

import os

from tests.backends import simulator_wanted

if simulator_wanted(os.environ):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "polyth",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("polyth")
