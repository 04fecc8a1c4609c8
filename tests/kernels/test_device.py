"""Device-resident plans: the inputs go to the device once, the output comes back once.

Counted with polyth_kernels.TRANSFERS, which every host ↔ device copy of the kernels goes
through; under the simulator (or on a GPU in the real-CUDA mode, tests/backends.py)."""

import numpy as np
import pytest

import polyth
import polyth_kernels
from polyth import reference, zoo
from polyth_kernels import TRANSFERS, broadcast_batch, combine, full, reverse_rows, to_device, to_host
from tests.backends import GPU


def inputs(m, n=12, d=3, dv=2, seed=0):
    rng = np.random.default_rng(seed)
    Q = [rng.standard_normal((2, n, d)) * 0.5 for _ in range(m.t)]
    V = {a + 1: rng.standard_normal((2, n, dv)) for a in m.values}
    return Q, V


@pytest.mark.parametrize(
    "spec,causal,uploads",
    [
        # a tree on t variables: t − 1 tables of two feature arrays each, t − 1 value arrays
        ("path:3", None, 3 * 2),
        ("star:4", None, 3 * 3),
        ("tree:1-2,2-3,2-4", None, 3 * 3),
        ("path:3", "nested", 3 * 2),
    ],
)
def test_a_tree_plan_copies_each_input_in_once_and_the_output_out_once(spec, causal, uploads):
    m = zoo.from_spec(spec)
    Q, V = inputs(m)
    assert {s.kind for s in polyth.bounds(m, causal=causal).plan.steps} == {"tree_message", "normalize"}
    TRANSFERS.clear()
    out = polyth.attention(m, Q, V, backend=GPU, causal=causal)
    assert dict(TRANSFERS) == {"to_device": uploads, "to_host": 1}
    np.testing.assert_allclose(out, reference.attention(m, Q, V, causal=causal), rtol=1e-9, atol=1e-12)


def test_the_cpu_backend_copies_nothing():
    m = zoo.path(3)
    Q, V = inputs(m)
    TRANSFERS.clear()
    polyth.attention(m, Q, V, backend="cpu")
    assert not TRANSFERS


def test_device_helpers_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((1, 5, 3)), rng.standard_normal((4, 5, 3))
    da, db = to_device(a), to_device(b)
    np.testing.assert_allclose(to_host(combine(da, db, "add")), a + b)
    np.testing.assert_allclose(to_host(combine(db, da, "mul")), a * b)
    np.testing.assert_array_equal(to_host(reverse_rows(db)), b[:, ::-1])
    np.testing.assert_array_equal(to_host(broadcast_batch(da, 4)), np.broadcast_to(a, (4, 5, 3)))
    np.testing.assert_array_equal(
        to_host(full((2, 3), 1.5, np.float32, on_device=True)), np.full((2, 3), 1.5)
    )
    assert polyth_kernels.is_device(da) and not polyth_kernels.is_device(a)
    with pytest.raises(ValueError, match="op must be"):
        combine(a, b, "sub")


@pytest.mark.parametrize("causal", [None, "prefix"])
def test_linear_attention_copies_q_k_v_in_once_and_the_result_out_once(causal):
    m = zoo.linear()
    rng = np.random.default_rng(2)
    Q = [rng.standard_normal((2, 70, 3)) for _ in range(2)]  # 70: causal chunks are padded
    V = {2: rng.standard_normal((2, 70, 2))}
    TRANSFERS.clear()
    out = polyth.attention(m, Q, V, backend=GPU, causal=causal)
    assert dict(TRANSFERS) == {"to_device": 3, "to_host": 1}
    np.testing.assert_allclose(out, reference.attention(m, Q, V, causal=causal), rtol=1e-9, atol=1e-12)


def test_the_stream_pass_counts_its_copies_eight_in_two_out():
    """kernels/stream.py copies through polyth_kernels.device too: its eight input arrays go in
    once each (its running state is made on the device), logz and out come back once each."""
    rng = np.random.default_rng(3)
    Aq, Ku, Au, Kb = (rng.standard_normal((1, 5, 2)) for _ in range(4))
    W = rng.standard_normal((1, 5, 2))
    TRANSFERS.clear()
    got = polyth_kernels.stream_pass(Aq, Ku, Au, Kb, Wu=W, Wb=W, backend=GPU)
    assert dict(TRANSFERS) == {"to_device": 8, "to_host": 2}
    want = polyth_kernels.stream_pass(Aq, Ku, Au, Kb, Wu=W, Wb=W, backend="cpu")
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
