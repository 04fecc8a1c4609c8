"""The load a measurement runs under, and the threads it runs with (docs/design.md §6).

A runtime check measures an exponent: how the work grows with n. It runs on **one thread**
unless asked for more (``threads=``, ``--threads``), for two measured reasons:

- *Parallel efficiency changes with n.* With 2 threads on the 2-core machine, Strassen's
  matrix products went from about one thread's speed at n = 256 to two at n = 2048, which takes
  log₂2 / 3 octaves ≈ 0.3 off the slope: the idle report read 2.44–2.60 against 3 (FAIL), one
  thread read 2.77 on the same sizes.
- *Small work runs serially* (``polyth_kernels.threads.launch``: below 2²² operations), so a grid
  that straddles that threshold has a kink with several threads (naive path-3 at 2 threads read
  2.80, interval 2.51–3.08, "too noisy", in every idle run; 3.01 ± 0.01 on one thread).

A check also counts the tasks that other processes keep runnable and is INCONCLUSIVE when even
its thread(s) had to share a core: with one core busy elsewhere, a parallel region waits a
scheduler slice for the thread that shares (a 0.45 ms call took 30 ms).

*Busy elsewhere* is the median, over samples taken before and during the check, of the number of
runnable tasks on the machine (``/proc/loadavg``, fourth field) minus this process's own running
threads (``/proc/self/task/*/stat``); without ``/proc`` it is the 1-minute load average,
``os.getloadavg()``.

Example::

    >>> Load(usable=2, threads=1, samples=[1.0, 1.0, 0.0]).shared   # one core busy elsewhere
    False
    >>> Load(usable=2, threads=1, samples=[2.0, 2.0, 1.0]).shared   # both busy
    True
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# A thread shares its core when the other processes' runnable tasks plus our threads exceed the
# usable cores by more than this (a sampled count of a few bursts is not a busy core).
SHARING_SLACK = 0.5
SAMPLES_BEFORE, SAMPLE_INTERVAL = 10, 0.05
# Threads of a runtime check unless asked for more (module docstring).
DEFAULT_THREADS = 1


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """``os.getloadavg()`` rounded, or None where the OS has none."""
    if not hasattr(os, "getloadavg"):
        return None
    return tuple(round(x, 2) for x in os.getloadavg())


def _own_running_threads() -> int | None:
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return None
    running = 0
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        running += stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R"
    return running


def busy_elsewhere() -> float:
    """Runnable tasks of other processes right now (see the module docstring)."""
    own = _own_running_threads()
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        average = load_average()
        return average[0] if average else 0.0
    return float(max(0, running - (own if own is not None else 1)))


@dataclass
class Load:
    """What a check ran under: usable cores, threads used, samples of the load elsewhere."""

    usable: int
    threads: int
    samples: list[float] = field(default_factory=list)
    average_at_start: tuple[float, float, float] | None = None
    average_at_end: tuple[float, float, float] | None = None

    @property
    def busy(self) -> float:
        """The median number of runnable tasks elsewhere over the check."""
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def shared(self) -> bool:
        """Whether the check's threads had to share their cores with other processes."""
        return self.busy + self.threads > self.usable + SHARING_SLACK

    def sample(self) -> None:
        self.samples.append(busy_elsewhere())

    def describe(self) -> str:
        average = f", load average {self.average_at_start[0]:g}" if self.average_at_start else ""
        return (
            f"{self.threads} thread(s) of {self.usable} usable core(s), {self.busy:g} task(s) runnable "
            f"elsewhere (median of {len(self.samples)} samples){average}"
        )

    def to_dict(self) -> dict:
        return {
            "usable_cpus": self.usable,
            "threads": self.threads,
            "busy_elsewhere": self.busy,
            "samples": len(self.samples),
            "load_average_at_start": self.average_at_start,
            "load_average_at_end": self.average_at_end,
            "shared": self.shared,
        }


def probe(threads: int | None = None) -> Load:
    """Sample the load for about half a second; the check's threads are ``threads`` (at most the
    usable cores) or :data:`DEFAULT_THREADS`."""
    usable = usable_cpus()
    load = Load(usable, 1, average_at_start=load_average())
    for _ in range(SAMPLES_BEFORE):
        load.sample()
        time.sleep(SAMPLE_INTERVAL)
    load.threads = max(1, min(usable, DEFAULT_THREADS if threads is None else threads))
    return load


@contextmanager
def limited_threads(threads: int):
    """Run numba parallel regions and BLAS with at most ``threads`` threads inside the block."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(before)
