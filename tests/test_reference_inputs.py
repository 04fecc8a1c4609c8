"""The reference's independence: its imports, its own input validation, its feature-map oracle.

The reference validates Q, V and causal itself (polyth.reference.inputs) instead of through
polyth.compute.inputs, so that the judge shares no code with what it judges. Here: every kind
of bad input is an InputError from the reference; on random inputs the two validators accept
and reject the same things and return the same arrays; the feature-map oracle matches a hand
computation.
"""

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth.reference
from polyth import InputError, Mechanism, NumericalError, zoo
from polyth.compute.inputs import nested_parents, prepare
from polyth.mechanism.similarity import Exp, FeatureMap
from polyth.reference import attention, feature_map_attention
from polyth.reference.inputs import check, tree_parents
from tests.test_reference import mechanisms

RNG = np.random.default_rng(0)
PATH = Mechanism.from_polynomial("x1*x2 + x2*x3")
REFERENCE_DIR = Path(polyth.reference.__file__).parent


def arrays(*shape, count=3, dtype=np.float64):
    return [RNG.normal(size=shape).astype(dtype) for _ in range(count)]


def values(*shape, keys=(2, 3)):
    return {k: RNG.normal(size=shape) for k in keys}


# ---------------------------------------------------------------- independence
def imported_modules(path: Path) -> list[str]:
    """Every module an import statement of ``path`` names, at any depth (functions included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import; write the absolute polyth.… name"
            names.append(node.module)
    return names


def allowed(module: str) -> bool:
    # polyth.limits reads the machine's free memory and refuses a call the oracle priced itself:
    # it computes no attention, so the oracle still shares no computation with what it checks
    if module == "polyth" or module.startswith("polyth."):
        return any(
            module == root or module.startswith(root + ".")
            for root in ("polyth.mechanism", "polyth.errors", "polyth.limits", "polyth.reference")
        )
    top = module.split(".")[0]
    return top in {"numpy", "networkx", "opt_einsum"} or top in sys.stdlib_module_names


@pytest.mark.parametrize("path", sorted(REFERENCE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_reference_imports_only_mechanism_errors_and_its_libraries(path):
    bad = [name for name in imported_modules(path) if not allowed(name)]
    assert not bad, f"polyth/reference/{path.name} imports {bad}"


def test_importing_the_reference_loads_no_compute_code():
    code = (
        "import sys, polyth.reference\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('polyth', 'polyth_kernels'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    outside = [
        name
        for name in loaded.split()
        if name not in ("polyth", "polyth.errors", "polyth.version", "polyth.limits")
        and not name.startswith(("polyth.mechanism", "polyth.reference"))
    ]
    assert not outside, f"import polyth.reference loads {outside}"


# ---------------------------------------------------------------- rejected inputs
def rejects(match, m=PATH, Q=None, V=None, causal=None):
    """The reference refuses with an InputError whose message matches ``match``."""
    Q = arrays(5, 4) if Q is None else Q
    V = values(5, 2) if V is None else V
    with pytest.raises(InputError, match=match):
        attention(m, Q, V, causal=causal)


def with_q(i, x, base=None):
    Q = arrays(5, 4) if base is None else base
    Q[i] = x
    return Q


def test_a_mechanism_is_required():
    with pytest.raises(InputError, match="needs a polyth.Mechanism, got str"):
        check("x1*x2", arrays(5, 4, count=2), values(5, 2, keys=(2,)))


def test_wrong_number_of_q_arrays_tied_and_untied():
    rejects(r"Q has 2 arrays, expected 3 \(tied: one per variable x1, x2, x3\)", Q=arrays(5, 4, count=2))
    with pytest.raises(InputError, match=r"Q has 3 arrays, expected 4 \(untied.*input_slots") as info:
        attention(PATH.replace(untied=True), arrays(5, 4), values(5, 2))
    assert "x2 in monomial 0 (x1*x2)" in str(info.value) and "x2 in monomial 1 (x2*x3)" in str(info.value)


@pytest.mark.parametrize("bad", [np.zeros((3, 5, 4)), "x1", {1: np.zeros((5, 4))}, 3.0, iter([])])
def test_q_must_be_a_list_or_tuple(bad):
    rejects(r"Q must be a list or tuple of 3 arrays", Q=bad)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 5, 4), ()])
def test_q_arrays_must_be_2d_or_3d(shape):
    rejects(r"Q\[1\] \(x2\) has shape .*; expected \(n, d\) or \(b, n, d\)", Q=with_q(1, np.zeros(shape)))


def test_batched_and_unbatched_cannot_mix():
    rejects(r"mix of 2-D and 3-D arrays .*V\[x2\] is 3-D", V={2: np.zeros((1, 5, 2)), 3: np.zeros((5, 2))})
    rejects(r"mix of 2-D and 3-D arrays .*Q\[0\] \(x1\) is 3-D", Q=with_q(0, np.zeros((1, 5, 4))))


@pytest.mark.parametrize("shape", [(6, 4), (5, 3)])
def test_q_arrays_must_agree_on_n_and_d(shape):
    rejects(
        r"Q\[2\] \(x3\) has shape \(\d, \d\) but Q\[0\] \(x1\) has \(5, 4\)", Q=with_q(2, np.zeros(shape))
    )


def test_q_arrays_must_agree_on_b():
    Q = with_q(1, np.zeros((3, 5, 4)), arrays(2, 5, 4))
    rejects(
        r"Q\[1\] \(x2\) has shape \(3, 5, 4\) .*all Q arrays need the same b, n and d", Q=Q, V=values(2, 5, 2)
    )


def test_v_arrays_must_match_q_and_each_other():
    rejects(r"V\[x3\] has shape \(6, 2\); expected \(n=5, dv\)", V={2: np.zeros((5, 2)), 3: np.zeros((6, 2))})
    rejects(
        r"V\[x3\] has shape \(1, 5, 2\); expected \(b=2, n=5, dv\)",
        Q=arrays(2, 5, 4),
        V={2: np.zeros((2, 5, 2)), 3: np.zeros((1, 5, 2))},
    )
    rejects(r"V\[x3\] has dv = 3 but V\[x2\] has dv = 2", V={2: np.zeros((5, 2)), 3: np.zeros((5, 3))})
    rejects(r"V\[x3\] has shape \(5,\)", V={2: np.zeros((5, 2)), 3: np.zeros(5)})


def test_per_channel_needs_dv_equal_d():
    rejects(r"per-channel .*\(got dv = 2, d = 4\)", m=PATH.replace(per_channel=True))


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (np.int64, r"dtype int64; pass float32 or float64"),
        (np.uint8, r"dtype uint8; pass float32 or float64"),
        (np.bool_, r"dtype bool; pass float32 or float64"),
        (np.float16, r"dtype float16; pass float32 or float64"),
        (np.complex128, r"is complex \(complex128\)"),
        (np.str_, r"dtype <U\d+; pass float32 or float64"),
    ],
)
def test_unsupported_dtypes(dtype, match):
    rejects(r"Q\[0\] \(x1\) (has )?" + match, Q=with_q(0, np.ones((5, 4)).astype(dtype)))
    rejects(r"V\[x3\] (has )?" + match, V={2: np.ones((5, 2)), 3: np.ones((5, 2)).astype(dtype)})


def test_object_and_unreadable_arrays():
    ragged_objects = np.array([[1.0], [2.0, 3.0], [1.0], [1.0], [1.0]], dtype=object)
    rejects(r"V\[x2\] is an object array", V={2: ragged_objects, 3: np.zeros((5, 1))})
    rejects(
        r"Q\[1\] \(x2\) (cannot be read as an array|is an object array)", Q=with_q(1, [[1.0], [2.0, 3.0]])
    )

    class Unreadable:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no")

    rejects(r"Q\[2\] \(x3\) cannot be read as an array \(no\)", Q=with_q(2, Unreadable()))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_name_the_array_and_index(bad):
    Q = arrays(5, 4, dtype=np.float32)
    Q[1][3, 2] = bad
    rejects(r"Q\[1\] \(x2\) contains NaN or Inf \(first at index \(3, 2\)\)", Q=Q)
    V = values(2, 5, 2)
    V[3][1, 4, 0] = bad
    rejects(r"V\[x3\] contains NaN or Inf \(first at index \(1, 4, 0\)\)", Q=arrays(2, 5, 4), V=V)


@pytest.mark.parametrize(("b", "n", "d", "dv"), [(0, 5, 4, 2), (2, 0, 4, 2), (2, 5, 0, 2), (2, 5, 4, 0)])
def test_empty_inputs(b, n, d, dv):
    rejects(r"empty inputs \(b=\d, n=\d, d=\d, dv=\d\)", Q=arrays(b, n, d), V=values(b, n, dv))


def test_v_must_be_a_mapping():
    rejects(r"V must be a dict .* with keys \['x2', 'x3'\]; got list", V=[np.zeros((5, 2))] * 2)


def test_missing_extra_and_repeated_value_variables():
    rejects(r"exactly the value variables \['x2', 'x3'\]; missing \['x3'\]", V=values(5, 2, keys=(2,)))
    rejects(r"; not value variables: \['x1'\]", V=values(5, 2, keys=(1, 2, 3)))
    rejects(r"missing \['x3'\]; not value variables: \['x1'\]", V=values(5, 2, keys=(1, 2)))
    rejects(r"V gives variable x2 twice \(keys 2 and 'x2'\)", V={2: np.zeros((5, 2)), "x2": np.zeros((5, 2))})


@pytest.mark.parametrize(
    ("key", "match"),
    [
        (0, r"V key 0 is out of range: value variables are indexed 1..3"),
        (np.int64(4), r"V key 4 is out of range"),
        ("x9", r"V key 'x9' is not a variable of the mechanism"),
        (True, r"V key True must be a variable name or a 1-based index"),
        (2.0, r"V key 2.0 must be a variable name or a 1-based index"),
        (None, r"V key None must be a variable name or a 1-based index"),
    ],
)
def test_bad_v_keys(key, match):
    rejects(match, V={key: np.zeros((5, 2)), 3: np.zeros((5, 2))})


@pytest.mark.parametrize("causal", ["future", "Prefix", True, 1, np.array(["prefix"]), ("prefix",)])
def test_unknown_causal_mode(causal):
    rejects(r'causal must be None, "prefix" or "nested"', causal=causal)


@pytest.mark.parametrize("text", ["x1*x2 + x2*x3 + x3*x1", "x1*x2*x3", "x1*x2 + x3*x4 + x1"])
def test_nested_needs_a_connected_tree(text):
    m = Mechanism.from_polynomial(text)
    Q, V = arrays(5, 4, count=m.t), values(5, 2, keys=range(2, m.t + 1))
    rejects(r'causal="nested" needs a connected tree polynomial', m=m, Q=Q, V=V, causal="nested")


# ---------------------------------------------------------------- accepted inputs
def test_checked_inputs_are_batched_float64_and_unbatch_restores_the_shape():
    m = PATH.replace(values=["x1", "x3"])
    Q = arrays(5, 4, dtype=np.float32)
    v1, v3 = np.ones((5, 2), np.float32), RNG.normal(size=(5, 2))
    checked = check(m, tuple(Q), {"x1": v1, np.int64(3): v3}, causal="prefix")
    assert (checked.b, checked.n, checked.d, checked.dv, checked.batched) == (1, 5, 4, 2, False)
    assert all(q.dtype == np.float64 and q.shape == (1, 5, 4) for q in checked.Q)
    assert sorted(checked.V) == [0, 2] and checked.parents is None and checked.causal == "prefix"
    np.testing.assert_array_equal(checked.V[2][0], v3)
    np.testing.assert_array_equal(checked.Q[1][0], Q[1].astype(np.float64))
    assert checked.unbatch(np.zeros((1, 5, 2))).shape == (5, 2)


def test_array_likes_are_accepted():
    checked = check(Mechanism.from_polynomial("x1*x2"), [[[0.5, 1.0]], [[1.0, 2.0]]], {2: [[1.0]]})
    assert checked.Q[0].shape == (1, 1, 2) and checked.dv == 1


@pytest.mark.parametrize(
    ("text", "query", "parents"),
    [
        ("x1*x2 + x2*x3 + x3*x4", "x1", {1: 0, 2: 1, 3: 2}),
        ("x1*x2 + x1*x3 + x1*x4", "x1", {1: 0, 2: 0, 3: 0}),
        ("x1*x2 + x2*x3 + x2*x4", "x1", {1: 0, 2: 1, 3: 1}),
        ("x1*x2 + x2*x3", "x2", {1: 0, 2: 0}),
        ("x1**2 + x1*x2 - 0.5*x2*x3**2", "x1", {1: 0, 2: 1}),
    ],
)
def test_tree_parents_point_towards_the_query(text, query, parents):
    assert tree_parents(Mechanism.from_polynomial(text, query=query)) == parents


# ---------------------------------------------------------------- agreement with polyth.compute.inputs
def outcome(validate):
    """("ok", result) or ("InputError", None); any other exception propagates and fails the test."""
    try:
        return "ok", validate()
    except InputError:
        return "InputError", None


def random_inputs(data, m):
    """Valid Q, V (1-based or named keys), causal, for mechanism ``m``."""
    b, n, d, dv = (data.draw(st.integers(1, 3), label=s) for s in "b n d dv".split())
    dv = d if m.per_channel else dv
    batched = data.draw(st.booleans(), label="batched")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)

    def array(width):
        dtype = data.draw(st.sampled_from([np.float32, np.float64]))
        return rng.normal(size=(b, n, width) if batched else (n, width)).astype(dtype)

    Q = [array(d) for _ in m.input_slots]
    V = {(a + 1 if data.draw(st.booleans()) else m.variables[a]): array(dv) for a in m.values}
    causals = [None, "prefix"] + (["nested"] if m.is_tree and m.is_connected else [])
    return Q, V, data.draw(st.sampled_from(causals), label="causal")


CORRUPTIONS = [
    "none",
    "drop a Q array",
    "extra Q array",
    "Q as an array",
    "batch one array",
    "shrink n of a Q array",
    "widen a V array",
    "integer Q array",
    "complex V array",
    "NaN in a Q array",
    "Inf in a V array",
    "empty n",
    "drop a V key",
    "add a V key",
    "V key 0",
    "causal nested",
    "causal 'all'",
]


def corrupt(kind, m, Q, V, causal):
    Q, V = list(Q), dict(V)
    key = next(iter(V))
    if kind == "drop a Q array":
        Q.pop()
    elif kind == "extra Q array":
        Q.append(Q[0])
    elif kind == "Q as an array":
        Q = np.stack(Q)
    elif kind == "batch one array":
        Q[-1] = Q[-1][None] if Q[-1].ndim == 2 else Q[-1][0]
    elif kind == "shrink n of a Q array":
        Q[-1] = Q[-1][..., :-1, :]
    elif kind == "widen a V array":
        V[key] = np.concatenate([V[key], V[key]], axis=-1)
    elif kind == "integer Q array":
        Q[0] = Q[0].astype(np.int32)
    elif kind == "complex V array":
        V[key] = V[key] + 0j
    elif kind == "NaN in a Q array":
        Q[0] = Q[0].copy()
        Q[0].flat[-1] = np.nan
    elif kind == "Inf in a V array":
        V[key] = V[key].copy()
        V[key].flat[0] = np.inf
    elif kind == "empty n":
        Q = [q[..., :0, :] for q in Q]
        V = {k: v[..., :0, :] for k, v in V.items()}
    elif kind == "drop a V key":
        del V[key]
    elif kind == "add a V key":
        spare = [a for a in range(m.t) if a not in m.values]
        V[spare[0] + 1 if spare else key] = V[key]
    elif kind == "V key 0":
        V[0] = V.pop(key)
    elif kind == "causal nested":
        causal = "nested"
    elif kind == "causal 'all'":
        causal = "all"
    return Q, V, causal


@settings(max_examples=150)
@given(m=mechanisms(), kind=st.sampled_from(CORRUPTIONS), data=st.data())
def test_reference_and_compute_validation_agree(m, kind, data):
    """Both accept exactly the same inputs and, when they do, return the same float64 arrays."""
    Q, V, causal = corrupt(kind, m, *random_inputs(data, m))
    ours, checked = outcome(lambda: check(m, Q, V, causal))
    theirs, prepared = outcome(lambda: prepare(m, Q, V, causal=causal, dtype=np.float64))
    assert ours == theirs, f"{kind}: the reference says {ours}, polyth.compute.inputs says {theirs}"
    if ours != "ok":
        return
    assert (checked.b, checked.n, checked.d, checked.dv) == (prepared.b, prepared.n, prepared.d, prepared.dv)
    assert (checked.batched, checked.causal) == (prepared.batched, prepared.causal)
    assert len(checked.Q) == len(prepared.Q)
    for ours_q, their_q in zip(checked.Q, prepared.Q):
        assert ours_q.dtype == their_q.dtype == np.float64
        np.testing.assert_array_equal(ours_q, their_q)
    assert list(checked.V) == list(prepared.V) == list(m.values)
    for a in m.values:
        np.testing.assert_array_equal(checked.V[a], prepared.V[a])
    if causal == "nested":
        assert checked.parents == nested_parents(m)


# ---------------------------------------------------------------- the feature-map oracle
def test_feature_map_attention_by_hand():
    """φ = elu + 1: φ(0) = 1, φ(1) = 2, φ(−1) = e^−1, φ(2) = 3; weights w_ij = φ(q_i)·φ(k_j)."""
    q, k, v = np.array([[0.0], [1.0]]), np.array([[-1.0], [2.0]]), np.array([[1.0], [10.0]])
    e, eps = math.exp(-1), 0.5
    full = [(e * 1 + 3 * 10) / (e + 3 + eps), (2 * e * 1 + 6 * 10) / (2 * e + 6 + eps)]
    prefix = [(e * 1) / (e + eps), full[1]]
    similarity = FeatureMap("elu+1", eps=eps)
    np.testing.assert_allclose(feature_map_attention(similarity, q, k, v)[:, 0], full, rtol=1e-15)
    np.testing.assert_allclose(feature_map_attention(similarity, q, k, v, "prefix")[:, 0], prefix, rtol=1e-15)
    batched = feature_map_attention(
        similarity, np.stack([q, k]), np.stack([k, q]), np.stack([v, v]), "prefix"
    )
    assert batched.shape == (2, 2, 1)
    np.testing.assert_allclose(batched[0], feature_map_attention(similarity, q, k, v, "prefix"), rtol=1e-15)
    np.testing.assert_allclose(batched[1], feature_map_attention(similarity, k, q, v, "prefix"), rtol=1e-15)


def test_reference_attention_on_linear_attention_is_the_feature_map_oracle():
    m = zoo.linear(eps=1e-3)
    q, k, v = arrays(2, 6, 3)
    for causal in (None, "prefix"):
        expected = feature_map_attention(m.similarity, q, k, v, causal)
        np.testing.assert_array_equal(attention(m, [q, k], {2: v}, causal=causal), expected)
        np.testing.assert_array_equal(attention(m, [q[0], k[0]], {2: v[0]}, causal=causal), expected[0])
    # x1·x2 oriented away from x1 is x2 → x1: the nested mask l2 ≤ l1 is the prefix mask
    np.testing.assert_array_equal(
        attention(m, [q, k], {2: v}, causal="nested"), attention(m, [q, k], {2: v}, causal="prefix")
    )


def test_feature_map_attention_refuses_what_it_does_not_define():
    q = np.ones((3, 2))
    with pytest.raises(InputError, match="needs a FeatureMap similarity"):
        feature_map_attention(Exp(), q, q, q)
    with pytest.raises(InputError, match="takes causal=None or \"prefix\", got 'nested'"):
        feature_map_attention(FeatureMap(), q, q, q, "nested")
    with pytest.raises(InputError, match=r"got q \(3, 2\), k \(4, 2\), v \(3, 2\)"):
        feature_map_attention(FeatureMap(), q, np.ones((4, 2)), q)
    with pytest.raises(NumericalError, match="not finite"):
        feature_map_attention(FeatureMap(), np.full((3, 2), 1e200), np.full((3, 2), 1e200), q)
