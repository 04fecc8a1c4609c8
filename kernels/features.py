"""Taylor monomial features: the low-rank factors of the polynomial method.

For x, y ∈ R^d and the multi-indices α ∈ N^d with |α| = Σ_c α_c ≤ g,

    Σ_{|α| ≤ g} x^α y^α / α!  =  Σ_{p=0}^{g} (x·y)^p / p!                              (*)

the degree-g Taylor polynomial of exp(x·y) (x^α = Π_c x_c^{α_c}, α! = Π_c α_c!).
Proof: group the α by p = |α|. For each p, the multinomial theorem gives
(x·y)^p = (Σ_c x_c y_c)^p = Σ_{|α|=p} p!/α! · Π_c (x_c y_c)^{α_c} = p! Σ_{|α|=p} x^α y^α / α!;
divide by p! and sum over p = 0..g.  ∎

So exp(x·y) ≈ φ(x)·ψ(y) with φ(x)_α = x^α / α! and ψ(y)_α = y^α: rank r = C(d+g, g)
(the number of α with |α| ≤ g). For a degree-k monomial x_1 x_2 … x_k the coordinate-wise
inner product is Σ_c Π_a x_{a,c} = x_1 · y with y_c = Π_{a≥2} x_{a,c}, and
y^α = Π_{a≥2} x_a^α, so the same weighted features factor into one per variable:
feature α of variable a is x_a^α (with the weight 1/α! carried by one of them) and
their product over a, summed over α, is the Taylor polynomial of exp(Σ_c Π_a x_{a,c})
(Alman & Song 2023 for k = 2, 2024 for k = 3; Chakrabarti, Pitassi, Alman 2026).

``monomial_features`` computes F[., i, q] = weights[q] · Π_c X[., i, c]^{alphas[q, c]} on the
CPU (numba prange over rows) or on cuda/cudasim (one thread per (batch, row, feature)), in
the input dtype; overflow to inf raises FloatingPointError.
"""

from __future__ import annotations

import math
from itertools import combinations_with_replacement

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.gemm import blocks

MAX_FEATURES = 1 << 24
THREADS = 128


def multi_indices(d: int, g: int) -> np.ndarray:
    """Every α ∈ N^d with |α| ≤ g, in graded order (|α| = 0, 1, …, g; within a degree, graded
    lexicographic: (1,0,…) before (0,1,…)). Shape (C(d+g, g), d), dtype int64."""
    if not (isinstance(d, (int, np.integer)) and isinstance(g, (int, np.integer))) or d < 1 or g < 0:
        raise ValueError(f"multi_indices needs integers d ≥ 1 and g ≥ 0, got d={d!r}, g={g!r}")
    r = math.comb(d + g, g)
    if r > MAX_FEATURES:
        raise ValueError(
            f"multi_indices: C(d+g, g) = {r} features for d={d}, g={g} is too many "
            f"(at most {MAX_FEATURES}); lower the degree g or the dimension d"
        )
    alphas = np.zeros((r, d), dtype=np.int64)
    row = 0
    for p in range(g + 1):
        for combo in combinations_with_replacement(range(d), p):
            for c in combo:
                alphas[row, c] += 1
            row += 1
    return alphas


def taylor_weights(alphas) -> np.ndarray:
    """1/α! = Π_c 1/α_c! for each row α of ``alphas`` (r, d); float64 (r,). See (*) above.

    Computed as exp(−Σ_c log α_c!): exact to rounding, and 0 (not an overflow) where α! exceeds
    the float64 range (|α| > 170)."""
    alphas = np.asarray(alphas)
    if alphas.ndim != 2 or not np.issubdtype(alphas.dtype, np.integer) or (alphas < 0).any():
        raise ValueError(
            f"taylor_weights needs an (r, d) array of non-negative integers, got {alphas.dtype} "
            f"{alphas.shape}"
        )
    top = int(alphas.max(initial=0))
    log_factorials = np.array([math.lgamma(p + 1) for p in range(top + 1)])
    return np.exp(-log_factorials[alphas].sum(axis=1))


def integer_power(x, p):
    """x^p for an integer p ≥ 1 by repeated multiplication, in the type of x (no float literal, so a
    float32 stays float32 on a GPU). Plain Python: wrap it with numba.njit or cuda.jit(device=True)."""
    result = x
    for _ in range(p - 1):
        result *= x
    return result


def _make_feature(power):
    def feature(X, bb, i, q, start, column, exponent, weights):
        """weights[q] · Π over the nonzero entries of α_q of X[bb, i, c]^α_c (α in CSR form)."""
        value = weights[q]
        for e in range(start[q], start[q + 1]):
            value *= power(X[bb, i, column[e]], exponent[e])
        return value

    return feature


_feature_cpu = numba.njit(inline="always")(_make_feature(numba.njit(inline="always")(integer_power)))
_feature_dev = cuda.jit(device=True, inline="always")(
    _make_feature(cuda.jit(device=True, inline="always")(integer_power))
)


@numba.njit(parallel=True, cache=True)
def _features_cpu(X, start, column, exponent, weights, F):
    nb, n, r = F.shape
    for task in prange(nb * n):
        bb = task // n
        i = task % n
        for q in range(r):
            F[bb, i, q] = _feature_cpu(X, bb, i, q, start, column, exponent, weights)


@cuda.jit
def _features_kernel(X, start, column, exponent, weights, F):
    task = cuda.grid(1)
    nb, n, r = F.shape
    if task >= nb * n * r:
        return
    bb = task // (n * r)
    i = (task // r) % n
    q = task % r
    F[bb, i, q] = _feature_dev(X, bb, i, q, start, column, exponent, weights)


def monomial_features(X, alphas, weights=None, backend: str = "cpu") -> np.ndarray:
    """F[., i, q] = weights[q] · Π_c X[., i, c]^{alphas[q, c]}.

    X (b, n, d) or (n, d), float32 or float64; alphas (r, d) non-negative integers; weights (r,)
    or None (all ones). Returns F (b, n, r) (or (n, r)) in the dtype of X.
    """
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(f"monomial_features needs float32 or float64 X, got {X.dtype}")
    batched = X.ndim == 3
    if X.ndim not in (2, 3):
        raise ValueError(f"monomial_features needs X (b, n, d) or (n, d), got {X.shape}")
    if not batched:
        X = X[None]
    alphas = np.asarray(alphas)
    if alphas.ndim != 2 or alphas.shape[1] != X.shape[2] or not np.issubdtype(alphas.dtype, np.integer):
        raise ValueError(
            f"monomial_features: alphas must be an integer (r, d) = (r, {X.shape[2]}) array, got "
            f"{alphas.dtype} {alphas.shape}"
        )
    if (alphas < 0).any():
        raise ValueError("monomial_features: alphas has negative exponents")
    r = alphas.shape[0]
    weights = np.ones(r) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (r,) or not np.isfinite(weights).all():
        raise ValueError(f"monomial_features: weights must be finite with shape ({r},), got {weights.shape}")
    if not np.isfinite(X).all():
        raise ValueError("monomial_features: X contains NaN or inf")
    rows, cols = np.nonzero(alphas)
    start = np.searchsorted(rows, np.arange(r + 1)).astype(np.int64)
    column = cols.astype(np.int64)
    exponent = alphas[rows, cols].astype(np.int64)
    weights = weights.astype(X.dtype)
    X = np.ascontiguousarray(X)
    shape = X.shape[:2] + (r,)
    if backend == "cpu":
        F = np.empty(shape, dtype=X.dtype)
        _features_cpu(X, start, column, exponent, weights, F)
    elif backend in ("cuda", "cudasim"):
        dF = cuda.device_array(shape, dtype=X.dtype)
        args = [cuda.to_device(a) for a in (X, start, column, exponent, weights)]
        _features_kernel[blocks(dF.size, THREADS), THREADS](*args, dF)
        F = dF.copy_to_host()
    else:
        raise ValueError(f"monomial_features: unknown backend {backend!r} (cpu, cuda or cudasim)")
    if not np.isfinite(F).all():
        raise FloatingPointError(
            f"monomial_features: {int((~np.isfinite(F)).sum())} features overflowed to inf; "
            "scale X down or lower the degree"
        )
    return F if batched else F[0]
