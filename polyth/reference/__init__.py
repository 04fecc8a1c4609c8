"""The reference: attention by definition, over every tuple, in float64.

The independent oracle that every kernel and method is checked against:

* :func:`attention`: poly-attention by brute force over all ``n^t`` tuples
  (:mod:`.brute_force`);
* :func:`feature_map_attention`: linear attention φ(q)·φ(k) with the full n × n weight
  matrix (:mod:`.feature_map`);
* :mod:`.inputs`: its own validation of Q, V and the causal mask.

It imports nothing of polyth but :mod:`polyth.mechanism`, :mod:`polyth.errors` and
:mod:`polyth.limits` (which prices nothing: it refuses a call the oracle priced itself), and
of third-party code only numpy, networkx and opt_einsum, so that a bug in the compute
layer cannot be shared by its judge (``tests/test_reference_inputs.py`` checks this).
"""

from polyth.reference.brute_force import attention
from polyth.reference.feature_map import feature_map_attention

__all__ = ["attention", "feature_map_attention"]
