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


def test_the_cache_entry_goes_quietly_when_module_globals_are_gone(monkeypatch):
    """At interpreter exit module globals may already be None when a mechanism is freed; the
    weakref callback must not raise then (a 10⁴-example fuzz run printed hundreds of ignored
    AttributeErrors at exit). The callback is called as the weakref would call it."""
    from polyth.compute import exact

    m = polyth.Mechanism.from_polynomial("x1*x2 + x2*x3 + x3*x4")
    plan_of(m, None)
    plans, key = exact._PLANS, id(m)
    ref = plans[key][0]
    monkeypatch.setattr(exact, "_PLANS", None)
    ref.__callback__(ref)
    assert key not in plans
