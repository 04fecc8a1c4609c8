"""Validation of attention inputs (polyth.inputs): every rule, and the message it gives."""

import dataclasses

import numpy as np
import pytest

from polyth import InputError, Mechanism
from polyth.compute.inputs import nested_parents, prepare

RNG = np.random.default_rng(0)
PATH = Mechanism.from_polynomial("x1*x2 + x2*x3")


def arrays(*shape, count=3, dtype=np.float64):
    return [RNG.normal(size=shape).astype(dtype) for _ in range(count)]


def values(*shape, keys=(2, 3)):
    return {k: RNG.normal(size=shape) for k in keys}


# ---------------------------------------------------------------- accepted inputs
def test_unbatched_inputs_gain_a_batch_axis_that_user_shape_removes():
    inputs = prepare(PATH, arrays(5, 4), values(5, 2))
    assert (inputs.b, inputs.n, inputs.d, inputs.dv) == (1, 5, 4, 2)
    assert not inputs.batched
    assert all(q.shape == (1, 5, 4) for q in inputs.Q)
    assert sorted(inputs.V) == [1, 2]
    assert inputs.user_shape(np.zeros((1, 5, 2))).shape == (5, 2)


def test_batched_inputs_keep_their_shape():
    inputs = prepare(PATH, arrays(3, 5, 4), values(3, 5, 2), causal="nested")
    assert (inputs.b, inputs.n, inputs.d, inputs.dv, inputs.causal) == (3, 5, 4, 2, "nested")
    assert inputs.batched
    assert inputs.user_shape(np.zeros((3, 5, 2))).shape == (3, 5, 2)


def test_value_keys_by_name_or_index_map_to_positions():
    m = PATH.replace(values=["x1", "x3"])
    v1, v3 = RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    inputs = prepare(m, arrays(5, 4), {"x1": v1, np.int64(3): v3})
    np.testing.assert_array_equal(inputs.V[0][0], v1)
    np.testing.assert_array_equal(inputs.V[2][0], v3)


def test_dtype_is_kept_promoted_or_cast():
    q32 = arrays(5, 4, dtype=np.float32)
    v32 = {2: RNG.normal(size=(5, 2)).astype(np.float32), 3: RNG.normal(size=(5, 2)).astype(np.float32)}
    assert prepare(PATH, q32, v32).dtype == np.float32
    mixed = [q32[0], q32[1], q32[2].astype(np.float64)]
    assert prepare(PATH, mixed, v32).dtype == np.float64
    cast = prepare(PATH, arrays(5, 4), values(5, 2), dtype="float32")
    assert cast.dtype == np.float32 and all(q.dtype == np.float32 for q in cast.Q)
    assert all(v.dtype == np.float32 for v in cast.V.values())


def test_array_likes_are_accepted():
    q = [[[0.5, 1.0]], [[1.0, 2.0]]]
    inputs = prepare(Mechanism.from_polynomial("x1*x2"), q, {2: [[1.0]]})
    assert inputs.Q[0].shape == (1, 1, 2) and inputs.dv == 1


def test_untied_inputs_follow_input_slots():
    m = PATH.replace(untied=True)
    assert len(m.input_slots) == 4
    inputs = prepare(m, arrays(5, 4, count=4), values(5, 2))
    assert len(inputs.Q) == 4


def test_inputs_are_immutable():
    inputs = prepare(PATH, arrays(5, 4), values(5, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.n = 3
    with pytest.raises(TypeError):
        inputs.V[0] = np.zeros((1, 5, 2))


# ---------------------------------------------------------------- rejected inputs
def check(match, m=PATH, Q=None, V=None, **options):
    Q = arrays(5, 4) if Q is None else Q
    V = values(5, 2) if V is None else V
    with pytest.raises(InputError, match=match):
        prepare(m, Q, V, **options)


def test_wrong_count_for_tied_inputs_says_one_per_variable():
    check(r"Q has 2 arrays, expected 3 \(tied: one per variable x1, x2, x3\)", Q=arrays(5, 4, count=2))


def test_wrong_count_for_untied_inputs_lists_the_slots():
    m = PATH.replace(untied=True)
    with pytest.raises(InputError, match=r"Q has 3 arrays, expected 4 \(untied.*input_slots") as info:
        prepare(m, arrays(5, 4), values(5, 2))
    assert "x2 in monomial 0" in str(info.value) and "x2 in monomial 1" in str(info.value)


@pytest.mark.parametrize("bad", [np.zeros((3, 5, 4)), "x1", {1: np.zeros((5, 4))}, 3.0])
def test_q_must_be_a_list_or_tuple(bad):
    check("Q must be a list or tuple of 3 arrays", Q=bad)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 5, 4)])
def test_q_arrays_must_be_2d_or_3d(shape):
    Q = arrays(5, 4)
    Q[1] = np.zeros(shape)
    check(r"Q\[1\] \(x2\) has shape .*expected \(n, d\) or \(b, n, d\)", Q=Q)


@pytest.mark.parametrize("shape", [(6, 4), (5, 3)])
def test_q_arrays_must_agree_on_n_and_d(shape):
    Q = arrays(5, 4)
    Q[2] = np.zeros(shape)
    check(r"Q\[2\] \(x3\) has shape \(\d, \d\) but Q\[0\] \(x1\) has \(5, 4\)", Q=Q)


def test_q_arrays_must_agree_on_b():
    Q = arrays(2, 5, 4)
    Q[1] = np.zeros((3, 5, 4))
    check("every Q array needs the same b, n and d", Q=Q, V=values(2, 5, 2))


def test_batched_and_unbatched_arrays_cannot_mix():
    check(r"mix of batched.*V\[x2\] is 3-D", V={2: np.zeros((1, 5, 2)), 3: np.zeros((5, 2))})


def test_v_must_be_a_mapping():
    check(r"V must be a dict .* value variables are \['x2', 'x3'\]", V=[np.zeros((5, 2))] * 2)


def test_v_missing_and_extra_keys_are_named():
    check(r"missing \['x3'\]", V=values(5, 2, keys=(2,)))
    check(r"not value variables: \['x1'\]", V=values(5, 2, keys=(1, 2, 3)))


def test_v_key_given_twice():
    check(r"V gives variable x2 twice \(keys 2 and 'x2'\)", V={2: np.zeros((5, 2)), "x2": np.zeros((5, 2))})


@pytest.mark.parametrize(
    ("key", "match"),
    [
        (0, r"out of range: value variables are indexed 1..3"),
        (4, r"out of range"),
        ("x9", r"'x9' is not a variable"),
        (True, "must be a variable name or a 1-based index"),
        (2.0, "must be a variable name or a 1-based index"),
    ],
)
def test_bad_v_keys(key, match):
    check(match, V={key: np.zeros((5, 2)), 3: np.zeros((5, 2))})


def test_v_arrays_must_match_q_in_b_and_n():
    check(r"V\[x3\] has shape \(6, 2\), expected \(n=5, dv\)", V={2: np.zeros((5, 2)), 3: np.zeros((6, 2))})
    check(r"expected \(b=2, n=5, dv\)", Q=arrays(2, 5, 4), V={2: np.zeros((2, 5, 2)), 3: np.zeros((1, 5, 2))})


def test_v_arrays_must_share_dv():
    check(r"V\[x2\] has dv = 2, V\[x3\] has dv = 3", V={2: np.zeros((5, 2)), 3: np.zeros((5, 3))})


def test_v_arrays_must_be_2d_or_3d():
    check(r"V\[x3\] has shape \(5,\)", V={2: np.zeros((5, 2)), 3: np.zeros(5)})


def test_per_channel_needs_dv_equal_d():
    check(r"per-channel .* dv = 2, d = 4", m=PATH.replace(per_channel=True))


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (np.int64, r"dtype int64; pass float32 or float64"),
        (np.bool_, r"dtype bool; pass float32 or float64"),
        (np.complex128, r"is complex \(complex128\)"),
        (np.float16, r"dtype float16; only float32 and float64"),
    ],
)
def test_unsupported_dtypes_are_rejected(dtype, match):
    Q = arrays(5, 4)
    Q[0] = np.ones((5, 4), dtype=dtype)
    check(r"Q\[0\] \(x1\) .*" + match, Q=Q)


def test_object_arrays_are_rejected():
    V = {2: np.array([[1.0], [2.0, 3.0], [1.0], [1.0], [1.0]], dtype=object), 3: np.zeros((5, 1))}
    check(r"V\[x2\] is an object array", V=V)


def test_requested_dtype_must_be_float32_or_float64():
    check("dtype int32 is not supported", dtype="int32")
    check("is not a numpy dtype", dtype="not-a-dtype")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_name_the_array_and_index(bad):
    Q = arrays(5, 4)
    Q[1][3, 2] = bad
    check(r"Q\[1\] \(x2\) contains NaN or Inf \(first at index \(3, 2\)\)", Q=Q)
    V = values(2, 5, 2)
    V[3][1, 4, 0] = bad
    check(r"V\[x3\] contains NaN or Inf \(first at index \(1, 4, 0\)\)", Q=arrays(2, 5, 4), V=V)


def test_cast_overflow_is_an_input_error():
    Q = arrays(5, 4)
    Q[0][0, 0] = 1e300
    check(r"Q\[0\] \(x1\) overflows float32", Q=Q, dtype=np.float32)


@pytest.mark.parametrize(("n", "d", "dv"), [(0, 4, 2), (5, 0, 2), (5, 4, 0)])
def test_empty_sizes_are_rejected(n, d, dv):
    check(r"empty inputs: need b, n, d, dv ≥ 1", Q=arrays(n, d), V=values(n, dv))


@pytest.mark.parametrize("causal", ["future", "Prefix", True, 1])
def test_unknown_causal_mode(causal):
    check(r'causal must be None, "prefix" or "nested"', causal=causal)


@pytest.mark.parametrize("text", ["x1*x2 + x2*x3 + x3*x1", "x1*x2*x3", "x1*x2 + x3*x4 + x1"])
def test_nested_needs_a_connected_tree(text):
    m = Mechanism.from_polynomial(text)
    Q = arrays(5, 4, count=m.t)
    V = values(5, 2, keys=range(2, m.t + 1))
    check(r'causal="nested" needs a connected tree polynomial', m=m, Q=Q, V=V, causal="nested")


def test_mechanism_is_required():
    with pytest.raises(InputError, match="expected a polyth.Mechanism"):
        prepare("x1*x2", arrays(5, 4, count=2), values(5, 2, keys=(2,)))


# ---------------------------------------------------------------- nested orientation
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
def test_nested_parents_point_towards_the_query(text, query, parents):
    assert nested_parents(Mechanism.from_polynomial(text, query=query)) == parents
