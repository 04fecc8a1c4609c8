"""The public API under random, hostile use: only polyth's own errors may escape.

Hypothesis draws mechanisms (zoo specs and random hypergraphs), arrays of random shapes and
dtypes (empty, NaN, ±inf, integers, complex, objects, huge lengths), unknown and ill-typed
options, and calls ``polyth.attention`` and ``polyth.reference.attention``. Every call must
return a finite array of the inputs' shape or raise a :class:`polyth.PolyError` (bad input,
not available, refused by budget) or :class:`polyth.NumericalError`; nothing else, and no
NaN. Tight ``max_seconds``/``max_memory`` keep every call that runs short.

``POLYTH_FUZZ_EXAMPLES`` sets the number of examples (the suite runs a few dozen; the
acceptance run of issue 17 used 10⁴).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polyth
from polyth.mechanism import zoo

EXAMPLES = int(os.environ.get("POLYTH_FUZZ_EXAMPLES", "40"))
ALLOWED = (polyth.PolyError, polyth.NumericalError)
SPECS = ["self", "path:3", "path:4", "star:4", "strassen", "tensor:3", "clique:4", "cycle:4", "linear"]
SPECS += ["elementwise:4", "elementwise:3", "x1*x2 + x2*x3*x4", "x1**2*x2 - 0.5*x2*x3", "tree:1-2,2-3,2-4"]
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.complex64, np.bool_, object]
BAD = [None, -1, 0, 0.0, float("nan"), float("inf"), True, "1", 1e300, 2, 0.5, 1e-3]


@st.composite
def mechanisms(draw):
    if draw(st.booleans()):
        try:
            m = zoo.from_spec(draw(st.sampled_from(SPECS)))
        except polyth.PolyError:  # e.g. an odd Taylor order, refused without allow_odd
            m = zoo.elementwise(3, allow_odd=True)
    else:
        t = draw(st.integers(2, 6))
        edges = draw(
            st.lists(st.lists(st.integers(1, t), min_size=1, max_size=3, unique=True), min_size=1, max_size=5)
        )
        edges.append([1, draw(st.integers(2, t))])  # the query takes part
        try:
            m = polyth.Mechanism.from_hypergraph([tuple(e) for e in edges])
        except polyth.PolyError:
            m = zoo.path(3)
    if draw(st.booleans()):
        try:
            m = m.replace(untied=draw(st.booleans()), per_channel=draw(st.booleans()))
        except polyth.PolyError:
            pass
    return m


def array(draw, shape, hostile: bool):
    dtype = draw(st.sampled_from(DTYPES)) if hostile and draw(st.integers(0, 3)) == 0 else np.float64
    if not hostile and draw(st.booleans()):
        dtype = np.float32
    size = int(np.prod(shape))
    values = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-2, 2, size)
    if hostile and size and draw(st.integers(0, 4)) == 0:
        values[draw(st.integers(0, size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e39]))
    if dtype is object:
        return values.astype(object).reshape(shape)
    with np.errstate(all="ignore"):
        return values.astype(dtype).reshape(shape)


@st.composite
def calls(draw):
    """A valid call (a third of the time), or one with some of its parts broken."""
    m = draw(mechanisms())
    hostile = draw(st.integers(0, 2)) > 0

    def broken(chance: int = 4) -> bool:  # this part is broken, in a hostile call
        return hostile and draw(st.integers(0, chance)) == 0

    huge = draw(st.integers(0, 12)) == 0
    n = draw(st.sampled_from([10**4, 10**5])) if huge else draw(st.integers(1, 9))
    d = draw(st.integers(1, 2)) if huge else draw(st.integers(1, 3))
    dv = d if m.per_channel else (1 if huge else draw(st.integers(1, 3)))
    if broken(6):
        n, d, dv = draw(st.sampled_from([(0, d, dv), (n, 0, dv), (n, d, 0)]))
    batch = draw(st.sampled_from([(), (), (1,), (2,)])) if not broken(8) else (0,)
    slots = len(m.input_slots) + (draw(st.sampled_from([1, -1])) if broken(8) else 0)

    def shape(width):
        if broken(12):
            return draw(st.sampled_from([(n,), (1, 1, n, width), (n + 1, width), ()]))
        return batch + (n, width)

    Q = [array(draw, shape(d), hostile) for _ in range(max(slots, 0))]
    if broken(15):
        Q = draw(st.sampled_from([None, "Q", {1: 2}, np.zeros((2, 2))]))
    keys = [a + 1 for a in m.values]
    if broken(10):
        keys = draw(st.sampled_from([[], [0], ["x9"], keys + [1], [True], [m.variables[-1]]]))
    V = {k: array(draw, shape(dv), hostile) for k in keys}
    if broken(20):
        V = draw(st.sampled_from([None, [1, 2], "V"]))
    method = draw(st.sampled_from(["exact", "naive", "approx"]))
    options = {
        "method": draw(st.sampled_from(["fast", None, 2])) if broken(10) else method,
        "backend": draw(st.sampled_from(["cuda", "gpu", "cudasim"])) if broken(10) else "cpu",
        "causal": draw(st.sampled_from([None, None, "prefix", "nested"])),
    }
    if broken(10):
        options["causal"] = draw(st.sampled_from(["future", 1]))
    if method == "approx" and not isinstance(m.similarity, polyth.mechanism.similarity.Taylor):
        if draw(st.booleans()):
            options.update(
                B=draw(st.sampled_from([1.0, 2.0, 3.0, 300.0])), eps=draw(st.sampled_from([1e-2, 1e-4]))
            )
        else:
            options["degree"] = draw(st.sampled_from([0, 1, 2, 4, 7]))
            if draw(st.booleans()):
                options["eps"] = 1e-3
    for name in ("B", "eps", "degree"):
        if broken(8):
            options[name] = draw(st.sampled_from(BAD + [10**6, 2.5, -2]))
    if broken(10):
        options["dtype"] = draw(st.sampled_from(["float32", np.float64, "float16", int, "nonsense"]))
    if broken(10):
        options["max_memory"] = draw(st.sampled_from([-1, 0, "1G", float("nan"), True, 1]))
    return m, Q, V, options


def _run(call, *args, **options):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", polyth.AccuracyWarning)
            return call(*args, **options)
    except ALLOWED:
        return None
    except BaseException as exc:  # any other exception is the failure this test looks for
        raise AssertionError(f"{type(exc).__module__}.{type(exc).__name__} escaped: {exc}") from exc


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
@given(calls())
def test_only_polyth_errors_escape(call):
    m, Q, V, options = call
    limits = {"max_seconds": 0.02, "max_memory": 2**28}
    options = {**limits, **options}
    out = _run(polyth.attention, m, Q, V, **options)
    if out is not None:
        assert isinstance(out, np.ndarray) and np.isfinite(out).all()
        assert out.shape[:-1] == np.shape(Q[0])[:-1]
    reference_options = {k: v for k, v in options.items() if k in ("causal", "max_memory", "max_seconds")}
    out = _run(polyth.reference.attention, m, Q, V, **reference_options)
    if out is not None:
        assert np.isfinite(out).all()


@st.composite
def layer_calls(draw):
    kind = draw(st.sampled_from(["poly", "linear", "elementwise", "torch_self"]))
    dim = draw(st.sampled_from([4, 6, 8, 0, -2, 5]))
    heads = draw(st.sampled_from([1, 2, 3, 0]))
    options = {
        "causal": draw(st.sampled_from([None, "prefix", "nested", True, False, "x"])),
        "max_memory": draw(st.sampled_from([None, None, 2**24, 0, "1G"])),
    }
    n = draw(st.sampled_from([0, 1, 5, 9, 2048]))
    shape = draw(st.sampled_from([(n, 8), (2, n, 8), (1, 2, n, 8), (8,), (2, n, 7)]))
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "int64", "bool"]))
    fill = draw(st.sampled_from([0.5, float("nan"), float("inf"), 1e30]))
    return kind, draw(st.sampled_from(SPECS[:6])), dim, heads, options, shape, dtype, fill


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
@given(layer_calls())
def test_only_polyth_errors_escape_the_torch_modules(call):
    torch = __import__("pytest").importorskip("torch")
    kind, spec, dim, heads, options, shape, dtype, fill = call

    def build():
        causal, max_memory = options["causal"], options["max_memory"]
        if kind == "poly":
            return polyth.nn.PolyAttention(spec, dim=dim, heads=heads, causal=causal, max_memory=max_memory)
        if kind == "torch_self":
            return polyth.nn.TorchSelfAttention(dim, heads=heads, causal=causal, max_memory=max_memory)
        if kind == "linear":
            return polyth.nn.LinearAttention(dim, heads=heads, causal=causal, max_memory=max_memory)
        return polyth.nn.ElementwiseAttention(
            dim, order=None if heads == 3 else 4, causal=causal, max_memory=max_memory
        )

    layer = _run(build)
    if layer is None:
        return
    x = torch.full(shape, fill).to(getattr(torch, dtype))
    out = _run(layer, x)
    if out is not None:
        assert out.shape == x.shape
