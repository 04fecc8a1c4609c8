"""The real-CUDA test mode: POLYTH_TEST_REAL_CUDA=1 runs the kernel and attention tests on
``cuda`` and keeps the simulator off; by default they run on ``cpu`` and ``cudasim``.
Checked without a GPU: the choice itself, and the test ids pytest collects in each mode."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import backends_under_test, gpu_backend, simulator_wanted

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "env,backends,gpu,simulator",
    [
        ({}, ("cpu", "cudasim"), "cudasim", True),
        ({"POLYTH_TEST_REAL_CUDA": "0"}, ("cpu", "cudasim"), "cudasim", True),
        ({"POLYTH_TEST_REAL_CUDA": "1"}, ("cuda",), "cuda", False),
    ],
)
def test_the_environment_chooses_the_backends(env, backends, gpu, simulator):
    assert backends_under_test(env) == backends
    assert gpu_backend(env) == gpu
    assert simulator_wanted(env) is simulator


def _run(code_or_args, real: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "POLYTH_TEST_REAL_CUDA")}
    if real:
        env["POLYTH_TEST_REAL_CUDA"] = "1"
    done = subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("real", [False, True])
def test_conftest_switches_the_simulator(real):
    out = _run(["-c", "import os, tests.conftest; print(os.environ.get('NUMBA_ENABLE_CUDASIM'))"], real)
    assert out.split() == (["None"] if real else ["1"])


@pytest.mark.parametrize("real", [False, True])
def test_collected_kernel_tests_carry_the_chosen_backends(real):
    out = _run(
        ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/kernels/test_scan.py"], real
    )
    ids = [line for line in out.splitlines() if "::" in line]
    params = {p for line in ids for p in line[line.find("[") + 1 : -1].split("-")}
    assert ids
    if real:
        assert "cuda" in params and not {"cpu", "cudasim"} & params
    else:
        assert {"cpu", "cudasim"} <= params and "cuda" not in params


def test_no_test_module_fixes_its_own_backends():
    """A list such as ["cpu", "cudasim"] written into a test module would ignore the real-CUDA
    mode: the backends under test come from tests/backends.py only."""
    fixed = re.compile(
        r"""\[\s*["']cpu["']\s*,\s*["']cudasim["']\s*\]|\(\s*["']cpu["']\s*,\s*["']cudasim["']\s*\)"""
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if path.name not in ("backends.py", "test_backend_switch.py") and fixed.search(path.read_text())
    ]
    assert offenders == []
