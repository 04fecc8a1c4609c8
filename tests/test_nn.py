"""polyth.nn: torch modules for linear and element-wise attention, and the memory-flat causal backward."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import polyth  # noqa: E402
import polyth_kernels  # noqa: E402
from polyth import nn as pnn  # noqa: E402
from polyth.errors import InputError  # noqa: E402


def quadratic_causal_linear(q, k, v, eps=1e-6):
    """The masked quadratic form: w = tril(φ(Q) φ(K)ᵀ), out = w V / (w 1 + eps)."""
    w = torch.tril(pnn.elu_feature_map(q) @ pnn.elu_feature_map(k).transpose(-1, -2))
    return (w @ v) / (w.sum(-1, keepdim=True) + eps)


def tensors(shape_q, dv, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape_q, generator=g, dtype=dtype, requires_grad=True)
    k = torch.randn(*shape_q, generator=g, dtype=dtype, requires_grad=True)
    v = torch.randn(*shape_q[:-1], dv, generator=g, dtype=dtype, requires_grad=True)
    return q, k, v


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_causal_gradients_match_autograd_of_the_quadratic_form(chunk):
    q, k, v = tensors((2, 3, 45, 4), 5)
    ours = pnn.linear_attention(q, k, v, causal=True, chunk=chunk)
    reference = quadratic_causal_linear(q, k, v)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-10)
    upstream = torch.randn_like(ours)
    for a, b in zip(
        torch.autograd.grad(ours, (q, k, v), upstream), torch.autograd.grad(reference, (q, k, v), upstream)
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        assert (a - b).abs().max() < 1e-10


def test_causal_dot_product_passes_gradcheck():
    q, k, v = tensors((1, 11, 3), 2)
    assert torch.autograd.gradcheck(lambda a, b, c: pnn.CausalDotProduct.apply(a, b, c, 4), (q, k, v))


def test_memory_kept_for_backward_is_flat_per_token():
    """The quadratic form keeps n² numbers; the chunked backward keeps only O(n·(d + dv))."""
    d = dv = 16
    ours, quadratic = [], []
    for n in (128, 512, 2048):
        q, k, v = tensors((1, n, d), dv)
        ours.append(pnn.saved_bytes(lambda a, b, c: pnn.linear_attention(a, b, c, causal=True), q, k, v) / n)
        quadratic.append(pnn.saved_bytes(quadratic_causal_linear, q, k, v) / n)
    assert ours[0] == ours[1] == ours[2] < 20 * (d + dv) * 8
    assert quadratic[2] > 8 * quadratic[0]  # grows like n


def test_non_causal_and_kernels_agree():
    q, k, v = tensors((2, 30, 4), 3)
    out = pnn.linear_attention(q, k, v).detach().numpy()
    np.testing.assert_allclose(
        out, polyth_kernels.linear_attention(*(x.detach().numpy() for x in (q, k, v))), atol=1e-12
    )
    for causal in (False, True):
        q, k, v = (torch.rand(2, 30, 3, dtype=torch.float64) - 0.5 for _ in range(3))
        taylor = pnn.elementwise_attention(q, k, v, order=6, causal=causal).numpy()
        np.testing.assert_allclose(
            taylor,
            polyth_kernels.elementwise_attention(q.numpy(), k.numpy(), v.numpy(), 6, causal=causal),
            atol=1e-12,
        )
        exact = pnn.elementwise_attention(q, k, v, order=None, causal=causal).numpy()
        assert 0 < np.abs(exact - taylor).max() < 1e-6


def test_modules_train():
    torch.manual_seed(0)
    for module in (
        pnn.LinearAttention(8, heads=2, causal=True),
        pnn.ElementwiseAttention(8, order=4, causal=True),
    ):
        x = torch.randn(3, 20, 8)
        loss = module(x).pow(2).mean()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
        # causal: the output at position i does not depend on later tokens
        y = x.clone()
        y[:, 10:] += 1
        torch.testing.assert_close(module(x)[:, :10], module(y)[:, :10])


def test_bad_inputs_raise_input_errors():
    with pytest.raises(InputError, match="odd"):
        pnn.ElementwiseAttention(8, order=3)
    with pytest.raises(InputError, match="multiple"):
        pnn.LinearAttention(10, heads=3)
    with pytest.raises(InputError, match="torch tensor"):
        pnn.linear_attention(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(InputError, match="per channel"):
        pnn.elementwise_attention(torch.ones(4, 2), torch.ones(4, 2), torch.ones(4, 3))


def test_import_polyth_does_not_import_torch():
    code = "import sys, polyth, polyth.compute.decoding; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: pnn.LinearAttention(8, heads=2),
        lambda: pnn.ElementwiseAttention(8, order=4),
        lambda: pnn.TorchSelfAttention(8, heads=2),
        lambda: pnn.PolyAttention("path:3", dim=8, heads=2),
    ],
)
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 8)),
        torch.zeros(4, 8, dtype=torch.int64),
        torch.zeros(4, 7),
        torch.zeros(8),
        torch.zeros(0, 8),
    ],
    ids=["numpy", "integer", "width", "1-D", "empty"],
)
def test_every_module_validates_its_input(make, bad):
    with pytest.raises(InputError, match="floating-point tensor"):
        make()(bad)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: pnn.LinearAttention(8, heads=3), "not a multiple"),
        (lambda: pnn.LinearAttention(8, causal="yes"), "causal must be True or False"),
        (lambda: pnn.LinearAttention(8, eps=-1.0), "eps must be a positive"),
        (lambda: pnn.ElementwiseAttention(0), "dim must be a positive integer"),
        (lambda: pnn.ElementwiseAttention(8, order=-2), "order must be a non-negative integer"),
        (lambda: pnn.TorchSelfAttention(8, scale=0.0), "scale must be a positive"),
        (lambda: pnn.PolyAttention("self", dim=8, max_memory=-5), "max_memory"),
    ],
)
def test_every_module_validates_its_options(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_a_forward_pass_over_budget_is_refused_before_allocating():
    layer = pnn.ElementwiseAttention(8, order=None, max_memory=2**20)
    with pytest.raises(polyth.BudgetError, match="element-wise attention .* above max_memory = 1 MiB"):
        layer(torch.zeros(1, 512, 8))
    assert pnn.ElementwiseAttention(8, order=None)(torch.zeros(1, 16, 8)).shape == (1, 16, 8)
