"""The reference: attention by definition, over every tuple, in float64.

The independent oracle that every kernel and method is checked against. It imports
nothing of polyth but the mechanism package and the errors (a contract in
``pyproject.toml``).
"""

from polyth.reference.brute_force import attention

__all__ = ["attention"]
