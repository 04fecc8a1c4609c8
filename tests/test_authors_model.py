"""The authors' model (polyth.tasks.authors_model) against the formulas read from their code.

The expected values are computed here by brute force in numpy float64 from the formulas of
sayaksc/tree_attention_simple (tree_att_nan_seed.py, transformer_seed.py, train_vocab_seed.py)
as docs/design.md §1 states them, and from polyth's brute-force reference for Definition 2.2;
none of them comes from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from polyth import reference, zoo  # noqa: E402
from polyth.errors import InputError  # noqa: E402
from polyth.mechanism import Mechanism  # noqa: E402
from polyth.nn.elimination import plan_attention  # noqa: E402
from polyth.tasks import authors_model as am  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def code_tree(Q1, Q2, Q3, V2, V3, d_h: int) -> np.ndarray:
    """The tree code's output by its triple sum: clamp ±20 on each pairwise score scaled by
    1/(2√d_h), V2 read at the query i, the normaliser floored at 1e-9."""
    c = 2 * math.sqrt(d_h)
    s12 = np.clip(Q1 @ Q2.T / c, -20, 20)
    s23 = np.clip(Q2 @ Q3.T / c, -20, 20)
    out = np.empty_like(V2)
    for i in range(len(Q1)):
        w = np.exp(s12[i][:, None] + s23)  # w[j, k]
        out[i] = V2[i] * np.einsum("jk,kc->c", w, V3) / max(w.sum(), 1e-9)
    return out


def code_self(Q, K, V, d_h: int) -> np.ndarray:
    s = Q @ K.T / math.sqrt(d_h)
    w = np.exp(s - s.max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)) @ V


def tree_code_mechanism(d_h: int) -> Mechanism:
    return Mechanism.from_polynomial("x1*x2 + x2*x3", values=("x1", "x3"), scale=1 / (2 * math.sqrt(d_h)))


@pytest.mark.parametrize("spread", [0.3, 30.0])
def test_clamped_tree_attention_is_the_codes_triple_sum(spread):
    rng = np.random.default_rng(1)
    n, d = 7, 4
    Q1, Q2, Q3, V2, V3 = (rng.normal(size=(n, d)) for _ in range(5))
    Q1 *= spread
    expected = code_tree(Q1, Q2, Q3, V2, V3, d)
    got = am.clamped_tree_attention(
        *(torch.from_numpy(x) for x in (Q1, Q2, Q3, V2, V3)), scale=1 / (2 * math.sqrt(d))
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    if spread > 1:  # the clamp acts
        assert np.abs(Q1 @ Q2.T / (2 * math.sqrt(d))).max() > 20


def test_without_the_clamp_the_code_is_polyths_mechanism_with_the_value_on_the_query():
    rng = np.random.default_rng(2)
    n, d = 6, 8
    Q1, Q2, Q3, V2, V3 = (rng.normal(size=(n, d)) for _ in range(5))
    expected = code_tree(Q1, Q2, Q3, V2, V3, d)
    m = tree_code_mechanism(d)
    np.testing.assert_allclose(reference.attention(m, [Q1, Q2, Q3], {1: V2, 3: V3}), expected, rtol=1e-10)
    torch_q = [torch.from_numpy(x) for x in (Q1, Q2, Q3)]
    got = plan_attention(m, torch_q, {1: torch.from_numpy(V2), 3: torch.from_numpy(V3)})
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def projections(layer: am.AuthorsAttention, x: torch.Tensor):
    with torch.no_grad():
        return [p(x).double().numpy() for p in layer.slots], [p(x).double().numpy() for p in layer.values]


def test_tree_layer_runs_polyth_unless_the_clamp_acts_and_always_computes_the_code():
    torch.manual_seed(0)
    layer = am.AuthorsAttention("tree", "authors", 8)
    x = torch.randn(3, 9, 8)
    (q1, q2, q3), (v2, v3) = projections(layer, x)
    out = layer(x).detach().numpy()
    assert layer.clamped_calls == 0  # default initialisation: scores far below 20
    for b in range(3):
        np.testing.assert_allclose(
            out[b], code_tree(q1[b], q2[b], q3[b], v2[b], v3[b], 8), rtol=1e-4, atol=1e-6
        )
    with torch.no_grad():
        layer.slots[0].weight.mul_(60.0)
        layer.slots[1].weight.mul_(60.0)
    (q1, q2, q3), (v2, v3) = projections(layer, x)
    assert np.abs(np.einsum("bid,bjd->bij", q1, q2)).max() / (2 * math.sqrt(8)) > 20
    out = layer(x).detach().numpy()
    assert layer.clamped_calls == 1
    for b in range(3):
        np.testing.assert_allclose(
            out[b], code_tree(q1[b], q2[b], q3[b], v2[b], v3[b], 8), rtol=1e-4, atol=1e-6
        )


def test_polyth_and_the_clamped_arithmetic_have_the_same_gradient_where_the_clamp_is_inactive():
    torch.manual_seed(1)
    inputs = [torch.randn(2, 6, 4, dtype=torch.float64, requires_grad=True) for _ in range(5)]
    m = tree_code_mechanism(4)
    polyth_out = plan_attention(m, inputs[:3], {1: inputs[3], 3: inputs[4]})
    polyth_grad = torch.autograd.grad((polyth_out**2).sum(), inputs)
    code_out = am.clamped_tree_attention(*inputs, scale=m.scale_for(4))
    code_grad = torch.autograd.grad((code_out**2).sum(), inputs)
    for a, b in zip(polyth_grad, code_grad):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_self_layer_under_the_authors_semantics_is_softmax_over_root_d():
    torch.manual_seed(2)
    layer = am.AuthorsAttention("self", "authors", 8)
    x = torch.randn(2, 5, 8)
    (q, k), (v,) = projections(layer, x)
    out = layer(x).detach().numpy()
    for b in range(2):
        np.testing.assert_allclose(out[b], code_self(q[b], k[b], v[b], 8), rtol=1e-5, atol=1e-6)


def test_definition_2_2_layers_are_the_reference_with_the_default_mechanisms():
    torch.manual_seed(3)
    x = torch.randn(1, 5, 8)
    tree = am.AuthorsAttention("tree", "definition-2.2", 8)
    (q1, q2, q3), (v2, v3) = projections(tree, x)
    expected = reference.attention(zoo.path(3), [q1[0], q2[0], q3[0]], {2: v2[0], 3: v3[0]})
    np.testing.assert_allclose(tree(x).detach().numpy()[0], expected, rtol=1e-4, atol=1e-6)
    self_ = am.AuthorsAttention("self", "definition-2.2", 8)
    (q, k), (v,) = projections(self_, x)
    expected = reference.attention(zoo.self_attention(), [q[0], k[0]], {2: v[0]})
    np.testing.assert_allclose(self_(x).detach().numpy()[0], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        expected, code_self(q[0], k[0], v[0], 8 * 8), rtol=1e-10
    )  # scale 1/d = 1/√(d²)


def test_output_probabilities_are_the_softmax_of_logits_capped_at_50():
    model = am.authors_model("self-1L", seed=0)
    with torch.no_grad():
        model.readout.weight.zero_()
        model.readout.bias.zero_()
        model.readout.bias[:3] = torch.tensor([60.0, 55.0, 45.0])
    p = model(torch.zeros(1, 25, am.VOCAB))[0, -1].detach().double().numpy()
    z = np.minimum(np.r_[60.0, 55.0, 45.0, np.zeros(am.VOCAB - 3)], 50.0)
    np.testing.assert_allclose(p, np.exp(z - z.max()) / np.exp(z - z.max()).sum(), rtol=1e-5, atol=1e-30)
    assert p[0] == pytest.approx(p[1])  # both capped


def test_loss_is_binary_cross_entropy_over_the_27_outputs_of_the_last_position():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 2, am.VOCAB))
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    targets = np.array([0, 5, 11])
    y = np.eye(am.VOCAB)[targets]
    last = p[:, -1]
    expected = -np.mean(y * np.log(last) + (1 - y) * np.log(1 - last))
    got = am.binary_cross_entropy_loss(torch.from_numpy(p), torch.from_numpy(targets))
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["tree-1L", "self-2L"])
def test_last_position_only_gives_the_same_loss_and_gradient(name):
    x = torch.from_numpy(np.random.default_rng(5).random((4, 25, am.VOCAB)).astype(np.float32))
    targets = torch.tensor([1, 2, 3, 4])
    grads = []
    for last_only in (False, True):
        model = am.authors_model(name, seed=7, last_only=last_only)
        loss = am.binary_cross_entropy_loss(model(x), targets)
        grads.append((loss.detach(), torch.autograd.grad(loss, list(model.parameters()))))
    (loss_all, g_all), (loss_last, g_last) = grads
    torch.testing.assert_close(loss_last, loss_all, rtol=1e-6, atol=0)
    for a, b in zip(g_all, g_last):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-9)


def test_chunked_feed_forward_is_the_same_function_and_gradient(monkeypatch):
    layer = am.AuthorsLayer("self", "authors", 8, 32)
    u = torch.randn(5, 9, 8, requires_grad=True)
    whole = layer._feed_forward(u)
    g_whole = torch.autograd.grad(whole.pow(2).sum(), [u, *layer.ffn.parameters()])
    monkeypatch.setattr(am, "FFN_CHUNK_ROWS", 7)  # 45 rows in 7 chunks
    chunked = layer._feed_forward(u)
    g_chunked = torch.autograd.grad(chunked.pow(2).sum(), [u, *layer.ffn.parameters()])
    torch.testing.assert_close(chunked, whole)
    for a, b in zip(g_whole, g_chunked):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


def test_initialisation_follows_the_authors_files():
    tree, tree_other_seed = am.authors_model("tree-1L", 61), am.authors_model("tree-1L", 62)
    attention = tree.layers[0].attention
    assert attention.slots[1].weight.abs().max() <= 0.01  # W_Q2 ~ U(−0.01, 0.01)
    normal = torch.cat([attention.slots[0].weight.flatten(), tree.layers[0].ffn[0].weight.flatten()])
    assert normal.abs().max() > 0.01 and normal.std().item() == pytest.approx(0.01, rel=0.1)
    biases = [lin.bias for lin in (*attention.slots, *attention.values, tree.layers[0].ffn[0], tree.readout)]
    assert all(bool((b == 0).all()) for b in biases)
    # the layers come from the unseeded stream (the same for every run seed); E and W from seed + 1000, + 1001
    torch.testing.assert_close(tree.layers.state_dict(), tree_other_seed.layers.state_dict())
    assert not torch.equal(tree.embed.weight, tree_other_seed.embed.weight)
    table = torch.empty(am.VOCAB, 8)
    torch.nn.init.normal_(table, 0.0, 0.02, generator=torch.Generator().manual_seed(61 + 1000))
    torch.testing.assert_close(tree.embed.weight, table.T)
    self_ = am.authors_model("self-2L", 61)
    ffn_bound = math.sqrt(6 / (8 + am.D_FF))  # Xavier-uniform
    assert all(layer.ffn[0].weight.abs().max() <= ffn_bound for layer in self_.layers)
    assert self_.layers[0].ffn[0].weight.abs().max() > 0.9 * ffn_bound
    assert not torch.equal(self_.layers[0].ffn[0].weight, self_.layers[1].ffn[0].weight)


def test_the_two_semantics_share_every_parameter_and_its_initial_value():
    for name in am.ARCHITECTURES:
        authors = am.authors_model(name, 61, "authors").state_dict()
        definition = am.authors_model(name, 61, "definition-2.2").state_dict()
        torch.testing.assert_close(authors, definition)


def test_bad_names_are_refused():
    with pytest.raises(InputError, match="unknown model"):
        am.authors_model("tree-2L", 0)
    with pytest.raises(InputError, match="semantics"):
        am.authors_model("tree-1L", 0, semantics="paper")
    with pytest.raises(InputError, match="seed"):
        am.authors_model("tree-1L", -1)
