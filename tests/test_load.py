"""polyth.verify.load: the threads a check runs with and when its cores were shared."""

from pathlib import Path

import numba
import pytest

from polyth.verify import load
from polyth.verify.load import Load, limited_threads


@pytest.mark.parametrize(
    "samples,threads,shared",
    [
        ([1.0, 1.0, 0.0], 1, False),  # one core busy elsewhere, one thread on the other: free
        ([1.0, 2.0, 2.0], 1, True),  # both cores busy elsewhere most of the time
        ([0.0, 0.0, 1.0], 2, False),  # idle but for a burst
        ([1.0, 1.0, 1.0], 2, True),  # two threads where one core is busy
    ],
)
def test_a_core_is_shared_when_the_median_load_and_the_threads_exceed_the_cores(samples, threads, shared):
    state = Load(usable=2, threads=threads, samples=samples)
    assert state.shared is shared
    assert f"{threads} thread(s) of 2 usable core(s)" in state.describe()
    assert state.to_dict()["shared"] is shared


def test_probe_samples_the_load_and_chooses_the_threads(monkeypatch):
    monkeypatch.setattr(load, "busy_elsewhere", lambda: 1.0)
    monkeypatch.setattr(load, "usable_cpus", lambda: 4)
    monkeypatch.setattr(load, "SAMPLE_INTERVAL", 0.0)
    state = load.probe()
    assert state.threads == 1 and len(state.samples) == load.SAMPLES_BEFORE and state.busy == 1.0
    assert not state.shared  # one thread on the three cores left free
    assert load.probe(threads=3).threads == 3
    assert load.probe(threads=9).threads == 4  # asked for more than usable: capped


def test_busy_elsewhere_counts_other_runnable_tasks():
    value = load.busy_elsewhere()
    assert value >= 0
    if Path("/proc/loadavg").exists():  # a count of tasks; elsewhere the load average
        assert float(value).is_integer()


def test_limited_threads_sets_and_restores_numba_threads():
    before = numba.get_num_threads()
    with limited_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
