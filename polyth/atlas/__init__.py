"""The atlas: every small attention mechanism, classified by polyth's engine (docs/design.md §9).

Every mechanism of the paper's class (multilinear, coefficients 1) on t ≤ 8 variables with
monomials of degree 2, and on t ≤ 5 with monomials of degree 2 or 3, once per isomorphism
class with the query fixed (:mod:`.enumeration`); one row each, every column written by the
engine (:mod:`.classify`, :mod:`.columns`): exact exponent, best lower bound and verdict,
approximation threshold, decoding cost, task predictions and constructions. Built on Dask,
one Parquet partition per task (:mod:`.pipeline`, :mod:`.store`); asked with :mod:`.query`.

Example::

    import polyth.atlas

    frame = polyth.atlas.load()                          # shipped: graphs t ≤ 5, hypergraphs t ≤ 4
    polyth.atlas.select(frame, solves="compose:3", cheapest=True)
    polyth.atlas.select(frame, gap=True)                 # polyth's open problems
    polyth.atlas.build(6, out="atlas-t6")                # the graphs up to t = 6 on a LocalCluster
"""

from polyth.atlas.pipeline import build
from polyth.atlas.query import select, theorem_check
from polyth.atlas.store import load

__all__ = ["build", "load", "select", "theorem_check"]
