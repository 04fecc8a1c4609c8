"""polyth.torch_plan.plan_attention, PolyAttention and the Transformer against the float64 reference."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from polyth import reference, zoo  # noqa: E402
from polyth.errors import InputError, NumericalError, PolyError  # noqa: E402
from polyth.mechanism import Mechanism  # noqa: E402
from polyth.nn import PolyAttention, TorchSelfAttention  # noqa: E402
from polyth.nn import elimination as tp  # noqa: E402
from polyth.nn.transformer import Transformer  # noqa: E402
from polyth.theory.plan import plan_with_order  # noqa: E402

ZOO = ["self", "path:3", "path:4", "star:4", "strassen", "tensor:3", "cycle:4"]


def arrays(m, n=5, d=3, dv=2, b=2, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    Q = [rng.normal(size=(b, n, d)) * scale for _ in m.input_slots]
    V = {a + 1: rng.normal(size=(b, n, d if m.per_channel else dv)) for a in m.values}
    return Q, V


def run(m, Q, V, causal=None, dtype=torch.float64, **options):
    out = tp.plan_attention(
        m,
        [torch.tensor(q, dtype=dtype) for q in Q],
        {k: torch.tensor(v, dtype=dtype) for k, v in V.items()},
        causal=causal,
        **options,
    )
    return out.double().numpy()


def causal_modes(m):
    return [None, "prefix"] + (["nested"] if m.is_tree and m.is_connected else [])


def variants(m):
    """Tied, untied, values on every variable including the query, per-channel."""
    return {
        "tied": m,
        "untied": m.replace(untied=True),
        "query-value": m.replace(values=list(range(1, m.t + 1))),
        "per-channel": m.replace(per_channel=True),
    }


@pytest.mark.parametrize("spec", ZOO)
def test_zoo_matches_reference_in_every_variant_and_causal_mode(spec):
    base = zoo.from_spec(spec)
    for label, m in variants(base).items():
        for causal in causal_modes(m):
            Q, V = arrays(m, seed=len(label))
            out = run(m, Q, V, causal)
            ref = reference.attention(m, Q, V, causal=causal)
            np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9, err_msg=f"{spec} {label} {causal}")


@st.composite
def mechanisms(draw):
    """Random polynomials over t ≤ 4 variables: supports, powers 1 or 2, coefficients ±1, 2, 1/2, −3/2."""
    t = draw(st.integers(2, 4))
    terms, used = [], set()
    for _ in range(draw(st.integers(1, 4))):
        support = sorted(draw(st.sets(st.integers(1, t), min_size=1, max_size=t)))
        used.update(support)
        coefficient = draw(st.sampled_from(["1", "-1", "2", "1/2", "-3/2"]))
        powers = [draw(st.sampled_from(["", "", "", "**2"])) for _ in support]
        terms.append(f"({coefficient})*" + "*".join(f"x{a}{p}" for a, p in zip(support, powers)))
    missing = sorted({1, *range(1, t + 1)} - used)
    if missing:
        terms.append("*".join(f"x{a}" for a in sorted({1, *missing})))
    try:
        m = Mechanism.from_polynomial(" + ".join(terms))
    except PolyError:  # cancelling terms
        assume(False)
    values = draw(st.sets(st.integers(1, m.t), min_size=1))
    return m.replace(values=sorted(values), untied=draw(st.booleans()))


@settings(max_examples=12)
@given(m=mechanisms(), n=st.integers(1, 8), data=st.data())
def test_random_mechanisms_match_reference(m, n, data):
    causal = data.draw(st.sampled_from(causal_modes(m)))
    Q, V = arrays(m, n=n, d=2, b=2, seed=n)
    np.testing.assert_allclose(run(m, Q, V, causal), reference.attention(m, Q, V, causal=causal), atol=1e-9)


@pytest.mark.parametrize("spec", ["self", "path:3", "strassen", "tensor:3", "cycle:4"])
def test_large_scores_stay_finite_and_exact(spec):
    """|S| ~ 1e3: every weight is a softmax of shifted logs; matmul steps fall back to the joint table."""
    m = zoo.from_spec(spec).replace(scale=1.0)
    Q, V = arrays(m, n=6, d=2, scale=25.0, seed=3)
    for causal in (None, "prefix"):
        ref = reference.attention(m, Q, V, causal=causal)
        np.testing.assert_allclose(run(m, Q, V, causal), ref, atol=1e-9)
        out32 = run(m, Q, V, causal, dtype=torch.float32)
        assert np.isfinite(out32).all()
        np.testing.assert_allclose(out32, ref, atol=1e-4)


def test_matmul_underflow_is_detected_and_recomputed(monkeypatch):
    """Strassen in float32 with |S| ~ 1e2: a shifted product underflows and the step reruns exactly."""
    fallbacks = []
    matmul = tp._Runner.matmul

    def spy(self, step, inputs):
        result = matmul(self, step, inputs)
        fallbacks.append(result is None)
        return result

    monkeypatch.setattr(tp._Runner, "matmul", spy)
    m = zoo.strassen().replace(scale=1.0)
    Q, V = arrays(m, n=6, d=2, scale=8.0, seed=1)
    np.testing.assert_allclose(run(m, Q, V, dtype=torch.float32), reference.attention(m, Q, V), atol=1e-4)
    assert any(fallbacks)


@pytest.mark.parametrize(
    ("spec", "causal", "order"),
    [("path:4", "nested", (1, 2, 3)), ("path:4", "prefix", (2, 1, 3)), ("cycle:4", "prefix", (2, 3, 1))],
)
def test_other_elimination_orders_and_empty_rows(spec, causal, order):
    """Orders the search does not pick: nested path x2 first leaves messages with empty rows
    (l3 ≤ l2 ≤ l1 is empty when l3 > l1); prefix orders give prefix_sum steps."""
    m = zoo.from_spec(spec)
    plan = plan_with_order(m, order, causal=causal)
    Q, V = arrays(m, seed=7)
    out = run(m, Q, V, causal, plan=plan)
    np.testing.assert_allclose(out, reference.attention(m, Q, V, causal=causal), atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 7, 9])
@pytest.mark.parametrize("direction", ["prefix", "suffix"])
def test_blocked_scan_equals_the_masked_joint_table(n, direction):
    """The prefix_sum step (blocks of ~sqrt(n), padded) against the joint table with the threshold
    as −∞, for [l_b ≤ l_p] and [l_b ≥ l_p], with masked entries and values on two scopes."""
    g = torch.Generator().manual_seed(n)
    runner = tp._Runner(tp.resolve_plan(zoo.path(3), "prefix"), 1.0, n)
    runner.batch = 2
    b, p, threshold = 2, 0, 99
    pair = (b, p) if direction == "prefix" else (p, b)
    runner.thresholds = {threshold: pair}
    log = 30 * torch.randn(2, n, n, generator=g, dtype=torch.float64)
    log = log.masked_fill(torch.rand(2, n, n, generator=g) < 0.3, -math.inf)
    inputs = {
        threshold: tp.Message((0, 2), tp._threshold(pair, (0, 2), n, torch.float64, "cpu"), None),
        1: tp.Message((1, 2), log, torch.randn(2, n, n, 3, generator=g, dtype=torch.float64)),
        2: tp.Message((2,), None, torch.randn(2, n, 3, generator=g, dtype=torch.float64)),
    }
    step = type("Step", (), {"eliminated": b, "partner": p})()
    scan = runner.prefix(step, inputs)
    joint = runner.eliminate(list(inputs.values()), b)
    assert scan.scope == joint.scope == (0, 1)
    torch.testing.assert_close(scan.log, joint.log, rtol=0, atol=1e-9)
    finite = torch.isfinite(joint.log)
    torch.testing.assert_close(scan.value[finite], joint.value[finite], rtol=0, atol=1e-9)
    assert (scan.value[~finite] == 0).all()


def test_chunked_batches_match_and_give_the_same_gradient():
    m = zoo.tensor(3)
    Q, V = arrays(m, n=4, d=2, b=5, seed=2)
    np.testing.assert_allclose(run(m, Q, V, max_entries=400), reference.attention(m, Q, V), atol=1e-9)
    grads = []
    for budget in (tp.MAX_ENTRIES, 400):
        q = [torch.tensor(x, requires_grad=True) for x in Q]
        tp.plan_attention(
            m, q, {k: torch.tensor(v) for k, v in V.items()}, max_entries=budget
        ).square().sum().backward()
        grads.append(torch.cat([x.grad.flatten() for x in q]))
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize(
    ("spec", "causal"), [("path:3", "nested"), ("strassen", "prefix"), ("tensor:3", None)]
)
def test_gradcheck(spec, causal):
    m = zoo.from_spec(spec).replace(values=[1, 2, 3])
    g = torch.Generator().manual_seed(0)
    Q = [torch.randn(1, 3, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in m.input_slots]
    V = [torch.randn(1, 3, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in m.values]

    def f(*tensors):
        q, v = tensors[: len(Q)], tensors[len(Q) :]
        return tp.plan_attention(m, list(q), {a + 1: x for a, x in zip(m.values, v)}, causal=causal)

    assert torch.autograd.gradcheck(f, (*Q, *V))


def test_leading_dims_and_string_specs():
    m = zoo.path(3)
    Q, V = arrays(m, b=6)
    q = [torch.tensor(x).reshape(2, 3, 5, 3) for x in Q]
    v = {k: torch.tensor(x).reshape(2, 3, 5, 2) for k, x in V.items()}
    out = tp.plan_attention("path:3", q, v)
    assert out.shape == (2, 3, 5, 2)
    np.testing.assert_allclose(out.reshape(6, 5, 2).numpy(), reference.attention(m, Q, V), atol=1e-9)


def test_bad_inputs_raise_clear_errors():
    m = zoo.path(3)
    Q, V = arrays(m)
    q = [torch.tensor(x) for x in Q]
    v = {k: torch.tensor(x) for k, x in V.items()}
    with pytest.raises(InputError, match="value variables"):
        tp.plan_attention(m, q, {2: v[2]})
    with pytest.raises(InputError, match="3 tensors"):
        tp.plan_attention(m, q[:2], v)
    with pytest.raises(InputError, match="same shape"):
        tp.plan_attention(m, [q[0], q[1][:, :4], q[2]], v)
    with pytest.raises(InputError, match="nested"):
        tp.plan_attention(zoo.strassen(), q, v, causal="nested")
    with pytest.raises(InputError, match="LinearAttention"):
        tp.plan_attention(zoo.linear(), q[:2], {2: v[2]})
    with pytest.raises(InputError, match="plan was made"):
        tp.plan_attention(m, q, v, causal="prefix", plan=tp.resolve_plan(m, None))
    with pytest.raises(NumericalError):
        tp.plan_attention(m, [x.float() * 1e20 for x in q], {k: x.float() for k, x in v.items()})


# ----------------------------------------------------------------- modules


def test_poly_attention_shapes_and_parameters():
    layer = PolyAttention("strassen", dim=12, heads=3, bias=False)
    assert layer.head_dim == 4
    x = torch.randn(2, 5, 7, 12)
    assert layer(x).shape == (2, 5, 7, 12)
    slots, values, inner = 3, 2, 12
    assert sum(p.numel() for p in layer.parameters()) == 12 * slots * inner + 12 * values * inner + inner * 12
    untied = PolyAttention(zoo.strassen().replace(untied=True), dim=8, heads=2, head_dim=3, values=[1, 3])
    assert len(untied.mechanism.input_slots) == 6 and untied.mechanism.values == (0, 2)
    assert untied(torch.randn(4, 5, 8)).shape == (4, 5, 8)
    with pytest.raises(InputError, match="multiple of heads"):
        PolyAttention("self", dim=10, heads=3)
    for module in (layer, TorchSelfAttention(12, heads=3)):
        for x in (torch.randn(2, 5, 11), torch.zeros(2, 5, 12, dtype=torch.long)):
            with pytest.raises(InputError, match=r"floating-point tensor \(…, n, 12\)"):
                module(x)


def test_poly_attention_is_plan_attention_per_head():
    torch.manual_seed(0)
    layer = PolyAttention("path:3", dim=6, heads=2).double()
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    q = layer.slots(x).detach().unflatten(-1, (3, 2, 3))
    v = layer.values(x).detach().unflatten(-1, (2, 2, 3))
    heads = []
    for h in range(2):
        Q = [q[..., s, h, :].numpy() for s in range(3)]
        V = {a: v[..., i, h, :].numpy() for i, a in enumerate((2, 3))}
        heads.append(torch.tensor(reference.attention(zoo.path(3), Q, V)))
    expected = layer.out(torch.cat(heads, -1))
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("causal", [None, "prefix"])
def test_self_attention_baselines_agree_for_the_same_weights_and_scale(causal):
    torch.manual_seed(1)
    x = torch.randn(3, 9, 16, dtype=torch.float64)
    plain = TorchSelfAttention(16, heads=2, causal=causal, bias=True).double()  # torch's 1/sqrt(8)
    poly = PolyAttention(
        zoo.self_attention().replace(scale=1 / math.sqrt(8)), 16, 2, causal, bias=True
    ).double()
    poly.load_state_dict(plain.state_dict())
    torch.testing.assert_close(poly(x), plain(x), rtol=0, atol=1e-12)
    assert plain.mechanism.scale == pytest.approx(1 / math.sqrt(8))


def test_transformers_shapes_parameters_and_baselines_agree():
    features, dim, classes, n = 27, 8, 12, 25
    one = Transformer("path:3", features, dim, heads=1, layers=1, n_positions=n, n_classes=classes)
    x = torch.randn(4, n, features)
    assert one(x).shape == (4, n, classes)
    attention = dim * 3 * dim + dim * 2 * dim + dim * dim  # slots, values, out: no bias
    block = 2 * 2 * dim + attention + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim)
    outside = (features * dim + dim) + n * dim + 2 * dim + (dim * classes + classes)
    assert sum(p.numel() for p in one.parameters()) == outside + block
    two = Transformer("tensor:3", features, dim, layers=2, n_positions=n, n_classes=classes)
    assert two(x[:, :10]).shape == (4, 10, classes)

    torch.manual_seed(2)
    s = 0.3
    kw = dict(heads=2, layers=2, n_positions=n, n_classes=classes, attention_scale=s)
    plain = Transformer("torch-self", features, dim, causal="prefix", **kw).double()
    poly = Transformer("self", features, dim, causal="prefix", **kw).double()
    poly.load_state_dict(plain.state_dict())
    x = x.double()
    torch.testing.assert_close(poly(x), plain(x), rtol=0, atol=1e-10)
    assert plain.mechanism.scale == poly.mechanism.scale == s

    tokens = Transformer("star:3", 10, dim, tokens=True, n_positions=n, n_classes=2)
    assert tokens(torch.randint(0, 10, (3, 7))).shape == (3, 7, 2)
    with pytest.raises(InputError, match="integer tokens"):
        tokens(torch.randn(3, 7, 10))
    with pytest.raises(InputError, match="n_positions"):
        one(torch.randn(1, n + 1, features))
