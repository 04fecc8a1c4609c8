"""What a warm call reuses: the exact plan of a mechanism object, looked up by identity."""

import polyth
from polyth.compute.exact import plan_of
from polyth.theory.plan import exact_plan


def test_plan_of_is_the_exact_plan_and_is_reused():
    m = polyth.Mechanism.from_polynomial("x1*x2 + x2*x3 + x3*x1")
    for causal in (None, "prefix"):
        plan = plan_of(m, causal)
        assert plan is plan_of(m, causal)
        assert [(s.kind, s.eliminated) for s in plan.steps] == [
            (s.kind, s.eliminated) for s in exact_plan(m, causal).steps
        ]


def test_a_renamed_mechanism_gets_its_own_plan():
    """Equal up to renaming is not equal as written: the plan names variables."""
    m1 = polyth.Mechanism.from_polynomial("x1*x2 + x2*x3")
    m2 = polyth.Mechanism.from_polynomial("x1*x3 + x3*x2")
    assert m1 == m2
    assert [s.eliminated for s in plan_of(m1, None).steps] != [s.eliminated for s in plan_of(m2, None).steps]
