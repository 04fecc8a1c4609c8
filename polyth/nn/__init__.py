"""Torch modules with autograd (the ``torch`` extra): any mechanism as a layer, and the
efficient mechanisms with memory-flat causal backward passes.

* :mod:`.elimination`: a mechanism's exact plan in torch operations (log-domain messages);
* :mod:`.poly_attention`: :class:`PolyAttention` (any mechanism) and :class:`TorchSelfAttention`;
* :mod:`.linear_and_elementwise`: :class:`LinearAttention`, :class:`ElementwiseAttention`;
* :mod:`.transformer`: a small pre-norm transformer for the expressivity experiments.
"""

from polyth.nn.linear_and_elementwise import (
    CausalDotProduct,
    ElementwiseAttention,
    LinearAttention,
    elementwise_attention,
    elu_feature_map,
    linear_attention,
    saved_bytes,
)
from polyth.nn.poly_attention import PolyAttention, TorchSelfAttention

__all__ = [
    "CausalDotProduct",
    "ElementwiseAttention",
    "LinearAttention",
    "PolyAttention",
    "TorchSelfAttention",
    "elementwise_attention",
    "elu_feature_map",
    "linear_attention",
    "saved_bytes",
]
