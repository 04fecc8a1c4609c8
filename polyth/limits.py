"""What this machine allows a computation: its free memory, its measured speed, and the refusal.

Every public entry point prices a call before it allocates (the compute layer from its plan,
:mod:`polyth.compute.budget`; the reference and the torch modules from their own arrays) and
hands the price to :func:`check`, which raises :class:`polyth.BudgetError` when

* the predicted peak memory exceeds :func:`available_memory` (or the caller's ``max_memory``), or
* the predicted time, operations divided by :func:`machine_rate`, exceeds ``max_seconds``.

**Free memory** is the smallest of: the operating system's available memory (MemAvailable of
/proc/meminfo on Linux, psutil elsewhere), the room left under the process's cgroup limits
(v2 ``memory.max − memory.current``, v1 ``memory.limit_in_bytes − memory.usage_in_bytes``,
every ancestor up to the root), and the room left under ``ulimit -v`` (RLIMIT_AS minus the
virtual size).

**Rate.** The operation model (docs/design.md §3) counts multiply-adds and exponentials. Each is
timed once per process on one core: a float32 256 × 256 × 256 matrix product (BLAS held to one
thread) and np.exp over 2¹⁸ float32 entries, the fastest of at least 5 repeats; the machine's
rate is that times the cores this process may use (perfect scaling). Interference only slows a
run, so the fastest single-thread repeat is the core's unloaded speed (a multi-threaded probe
waits for its slowest thread, so a busy machine would bias it); BLAS is the fastest way this
machine does multiply-adds, and no kernel scales better than perfectly. The predicted time is
therefore a lower bound, and a call is refused only when even that exceeds ``max_seconds``:
the verdict does not depend on the machine being quiet.

Example::

    >>> import polyth.limits as limits
    >>> price = Price("demo", bytes=10**6, madds=10**9, exps=10**6)
    >>> limits.check(price, max_memory=2**30) is None   # 1 MB in a 1 GiB budget: allowed
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyth.errors import BudgetError, InputError

GEMM_SIZE = 256
EXP_SIZE = 2**18
REPEATS = 5


@dataclass(frozen=True)
class Memory:
    """Bytes this process may still allocate, and which limit sets it."""

    available: int
    source: str


@dataclass(frozen=True)
class Rate:
    """This machine's measured multiply-adds and exponentials per second, and how they were measured."""

    madds_per_second: float
    exps_per_second: float
    how: str

    def seconds(self, madds: int, exps: int) -> float:
        return madds / self.madds_per_second + exps / self.exps_per_second


@dataclass(frozen=True)
class Price:
    """The predicted cost of one call: peak bytes, multiply-adds and exponentials.

    ``what`` names the call (mechanism, method, sizes); ``ways_out`` gives (API text, command-line
    text) pairs, the remedies a refusal offers beyond raising the limit (called only to refuse).
    """

    what: str
    bytes: int
    madds: int
    exps: int
    ways_out: Callable[[], Sequence[tuple[str, str]]] = field(default=lambda: ())

    @property
    def operations(self) -> int:
        return self.madds + self.exps


# ----------------------------------------------------------------- free memory


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


@functools.cache
def _cgroup_limits() -> tuple[tuple[Path, Path], ...]:
    """(limit file, usage file) of every memory cgroup of this process, and its ancestors, that
    sets a limit (found once: the hierarchy does not change under a running process)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base, limit_file, usage_file = Path("/sys/fs/cgroup"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory")
            limit_file, usage_file = "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            limit = _read_int(folder / limit_file)
            if limit is not None and limit < 2**62 and (folder / usage_file).exists():
                found.append((folder / limit_file, folder / usage_file))
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return tuple(found)


def _os_available() -> int:
    """MemAvailable from /proc/meminfo (psutil elsewhere)."""
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available)


def available_memory() -> Memory:
    """The bytes this process may still allocate: the smallest of the OS, cgroup and ulimit rooms."""
    candidates = [(_os_available(), "available memory of the OS")]
    for limit_file, usage_file in _cgroup_limits():
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None:
            candidates.append((max(limit - usage, 0), f"cgroup limit {limit_file}"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        import psutil

        used = psutil.Process(os.getpid()).memory_info().vms
        candidates.append((max(soft - used, 0), "room under ulimit -v (RLIMIT_AS)"))
    available, source = min(candidates)
    return Memory(available, source)


# ----------------------------------------------------------------- speed


def _fastest(run) -> float:
    """The fastest of at least REPEATS runs (more while under 50 ms have passed)."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < REPEATS or (spent < 0.05 and runs < 50):
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return max(best, 1e-9)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def machine_rate() -> Rate:
    """Multiply-adds and exponentials per second on this machine, measured once per process."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    b = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    x = rng.uniform(-10, 10, EXP_SIZE).astype(np.float32)
    out = np.empty_like(a)
    exps = np.empty_like(x)
    with threadpool_limits(limits=1, user_api="blas"):
        np.matmul(a, b, out=out)  # load BLAS and warm the caches before timing
        madd_seconds = _fastest(lambda: np.matmul(a, b, out=out))
    exp_seconds = _fastest(lambda: np.exp(x, out=exps))
    cores = usable_cores()
    return Rate(
        cores * GEMM_SIZE**3 / madd_seconds,
        cores * EXP_SIZE / exp_seconds,
        f"one core timed on a float32 {GEMM_SIZE}³ matrix product (BLAS) and np.exp on "
        f"2^{EXP_SIZE.bit_length() - 1} float32 entries, fastest of ≥ {REPEATS} runs, times {cores} "
        "usable cores",
    )


# ----------------------------------------------------------------- the refusal


def check_limits(max_memory, max_seconds) -> None:
    """Refuse a ``max_memory`` that is not a positive number of bytes or a ``max_seconds`` that is
    not a positive number of seconds (None: no limit beyond the machine's memory)."""
    for name, value in (("max_memory", max_memory), ("max_seconds", max_seconds)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InputError(f"{name} must be a positive number or None, got {value!r}")
        if not (value > 0 and np.isfinite(value)):
            raise InputError(f"{name} must be a positive finite number or None, got {value!r}")


_LIMITS = contextvars.ContextVar("polyth_limits", default=(None, None))


@contextlib.contextmanager
def budget(max_memory=None, max_seconds=None):
    """Limits for every check inside the block that is not given its own (the command line
    sets ``--max-memory`` and ``--max-seconds`` this way for all the calls a command makes)."""
    check_limits(max_memory, max_seconds)
    token = _LIMITS.set((max_memory, max_seconds))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def check(price: Price, max_memory=None, max_seconds=None) -> None:
    """Raise :class:`BudgetError` when ``price`` exceeds the free memory, ``max_memory`` (bytes) or
    ``max_seconds`` (None: the limits of an enclosing :func:`budget` block, if any); return None
    when it fits. Takes well under a second (the rate is measured once per process, in about
    0.1 s, when a time limit or a refusal first needs it)."""
    check_limits(max_memory, max_seconds)
    default_memory, default_seconds = _LIMITS.get()
    max_memory = default_memory if max_memory is None else max_memory
    max_seconds = default_seconds if max_seconds is None else max_seconds
    reasons_api, reasons_cli = [], []
    if max_memory is not None and price.bytes > max_memory:
        reasons_api.append(f"above max_memory = {format_bytes(max_memory)}")
        reasons_cli.append(f"above --max-memory {format_bytes(max_memory)}")
    if price.bytes > 0:
        memory = available_memory()
        if price.bytes > memory.available:
            room = format_bytes(memory.available)
            text = f"above the {room} this process can still allocate ({memory.source})"
            reasons_api.append(text)
            reasons_cli.append(text)
    if max_seconds is not None and machine_rate().seconds(price.madds, price.exps) > max_seconds:
        reasons_api.append(f"above max_seconds = {max_seconds:g} s")
        reasons_cli.append(f"above --max-seconds {max_seconds:g}")
    if not reasons_api:
        return
    rate = machine_rate()
    seconds = rate.seconds(price.madds, price.exps)
    estimate = (
        f"{price.what} needs a predicted peak of {format_bytes(price.bytes)} and "
        f"{format_count(price.operations)} operations ({format_count(price.madds)} multiply-adds, "
        f"{format_count(price.exps)} exponentials): at least {format_seconds(seconds)} at this machine's "
        f"measured rate of {format_count(rate.madds_per_second)} multiply-adds/s and "
        f"{format_count(rate.exps_per_second)} exponentials/s ({rate.how})"
    )
    ways = list(price.ways_out())
    api_ways = [api for api, _ in ways] + ["raise max_memory= / max_seconds= if you are sure"]
    cli_ways = [cli for _, cli in ways] + ["raise --max-memory / --max-seconds if you are sure"]
    raise BudgetError(
        f"refused before allocating: {estimate}; {'; '.join(reasons_api)}. Way out: {'; '.join(api_ways)}",
        cli_message=f"refused before allocating: {estimate}; {'; '.join(reasons_cli)}. "
        f"Way out: {'; '.join(cli_ways)}",
    )


def format_bytes(value: float) -> str:
    """1536 → '1.5 KiB' (binary units up to EiB; beyond, a power of ten of bytes)."""
    value = float(value)
    if value >= 1024.0**7:
        return f"{format_count(value)} B"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    index = 0
    while abs(value) >= 1024 and index < len(units) - 1:
        value /= 1024
        index += 1
    return f"{value:.3g} {units[index]}" if index else f"{int(value)} B"


def format_count(value: float) -> str:
    """1.25e11 → '1.25·10¹¹'; below 10⁴ the plain number."""
    value = float(value)
    if value < 1e4:
        return f"{value:.3g}"
    if not np.isfinite(value):
        return "∞"
    exponent = int(np.floor(np.log10(value)))
    mantissa = value / 10**exponent
    if mantissa >= 9.995:
        mantissa, exponent = 1.0, exponent + 1
    superscript = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{mantissa:.3g}·10{superscript}"


def format_seconds(value: float) -> str:
    """Seconds as s, min, h, days or years, whichever reads best."""
    if not np.isfinite(value):
        return "∞"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g} s"
