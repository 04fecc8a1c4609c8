"""The theory layer: what is known about computing a mechanism, derived from its hypergraph.

Only sympy, networkx and numpy are used here (the contracts in ``pyproject.toml`` forbid the
kernels, numba, torch, rich and matplotlib). Modules, from the bottom up:

* :mod:`.rectangular`: the exponent ω(a, b, c) of rectangular products and its published bounds;
* :mod:`.terms`: cost polynomials Σ coef · n^(α + β·ω + Σ ω(a,b,c)) and the size symbols n, d, dv, ω;
* :mod:`.factors`: the factors of a mechanism (score tables, values, causal thresholds);
* :mod:`.pricing`: the operation model that prices one elimination step;
* :mod:`.plan`: elimination plans and the search for the best order;
* :mod:`.cost`: what a finished plan costs (symbolic, exponents, exact counts, memory);
* :mod:`.taylor`: the polynomial method on one factor (degree, rank, error);
* :mod:`.approximation`: the approximate algorithm of a mechanism;
* :mod:`.reductions`: M simulates M′ (rename, delete, fix, channel blocks), and the causal unmasking;
* :mod:`.lower_bounds`: the registry of known lower bounds and their inheritance by reduction;
* :mod:`.bounds`: :func:`polyth.bounds`, everything above in one report.
"""
