"""The mechanism layer: what an attention mechanism *is*, before any theory about it.

* :mod:`.core`: :class:`Mechanism` (the attention polynomial, its hypergraph, its canonical
  form) and :class:`Monomial`;
* :mod:`.parse`: the safe polynomial parser (no eval, bounded size);
* :mod:`.notation`: the way back, formulas as terminal mathematics and LaTeX;
* :mod:`.similarity`: what turns a score into a weight (exp, Taylor(g), a feature map);
* :mod:`.zoo`: the named mechanisms of the literature.
"""

from polyth.mechanism.core import MAX_VARIABLES, Mechanism, Monomial

__all__ = ["MAX_VARIABLES", "Mechanism", "Monomial"]
