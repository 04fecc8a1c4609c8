"""``polyth atlas build``: classify every mechanism of the families, one Parquet partition per task.

The families of an atlas up to t variables (:func:`polyth.atlas.enumeration.families`) are
enumerated on the client and cut into partitions of :data:`PARTITION_ROWS` consecutive
mechanisms. Each partition is one task: a worker classifies its mechanisms
(:func:`polyth.atlas.columns.row`) and returns the rows, and the client writes the partition
as soon as it arrives (:func:`polyth.atlas.store.write_partition`, atomic). So

- a partition whose file exists is finished and is never recomputed: a build into a folder
  that holds some partitions computes only the others (an interrupted build resumes);
- a worker that dies loses only the partition it was computing, which the scheduler gives to
  another worker; what the client wrote stays;
- workers need no shared file system (``--scheduler`` may be a remote cluster).

The default cluster is a ``LocalCluster`` with ``workers`` single-threaded worker processes
(the engine is Python and sympy: threads would share one GIL). Tasks are submitted largest t
first, and within a family in bit-reversed order (a family is listed by number of
hyperedges, and more hyperedges cost more), so that the estimate of the time left, taken
from the partitions finished so far, is drawn from a sample of the whole build.

Partition size: classifying one mechanism takes about 0.2 s at t ≤ 6 (graphs), 0.4 s at
t = 7, 1.1 s at t = 8, and 0.46 s for the hypergraphs at t = 5 (a 2-worker build of those ran
at 4.3 mechanisms/s on a 2-core machine); 100 mechanisms make tasks of 20 s to 2 min, long
against the scheduler's few milliseconds per task and short enough that a killed worker loses
little.

Example::

    >>> report = build(4, hyperedges=2, out="atlas-t4", serial=True)
    >>> report.mechanisms, report.computed
    (16, ['t2-e2-00000.parquet', 't3-e2-00000.parquet', 't4-e2-00000.parquet'])
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polyth.atlas.columns import row, schema
from polyth.atlas.enumeration import Member, families, family
from polyth.atlas.store import partition_name, read_column, write_partition
from polyth.errors import PolyError

PARTITION_ROWS = 100
CONNECT_TIMEOUT = "20s"  # to reach a --scheduler


@dataclass(frozen=True)
class Partition:
    """Consecutive mechanisms of one family: one task, one Parquet file."""

    t: int
    hyperedges: int
    index: int
    members: tuple[Member, ...]

    @property
    def name(self) -> str:
        return partition_name(self.t, self.hyperedges, self.index)


def plan(t: int, hyperedges: int = 2) -> list[Partition]:
    """The partitions of the atlas up to ``t`` variables, in atlas order."""
    out = []
    for size, e in families(t, hyperedges):
        members = family(size, e)
        for index, start in enumerate(range(0, len(members), PARTITION_ROWS)):
            out.append(Partition(size, e, index, tuple(members[start : start + PARTITION_ROWS])))
    return out


def compute(members: tuple[Member, ...]) -> list[dict]:
    """The rows of a partition (runs on a worker)."""
    return [row(member) for member in members]


@dataclass(frozen=True)
class Progress:
    """Where a build stands after a partition was written."""

    partition: str
    done: int  # partitions finished, skipped ones included
    total: int
    computed_mechanisms: int  # classified in this run
    remaining_mechanisms: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Mechanisms classified per second in this run."""
        return self.computed_mechanisms / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first partition)."""
        return self.remaining_mechanisms / self.rate if self.rate > 0 else None


@dataclass
class BuildReport:
    """What a build did: the partitions it computed and those it found finished."""

    out: Path
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mechanisms: int = 0  # classified in this run
    seconds: float = 0.0
    workers: int | None = None  # None: serial, in this process

    @property
    def rate(self) -> float:
        return self.mechanisms / self.seconds if self.seconds > 0 else 0.0


def _check_finished(path: Path, partition: Partition) -> None:
    """A partition file found in the folder must hold exactly the mechanisms planned for it."""
    found = read_column(path, "mechanism")
    planned = [m.polynomial for m in partition.members]
    if found != planned:
        raise PolyError(
            f"{path} does not hold the mechanisms this build plans for {partition.name} "
            "(written by another version of polyth?): build into a new folder"
        )


def build(
    t: int,
    hyperedges: int = 2,
    out: str | os.PathLike = "atlas",
    scheduler: str | None = None,
    workers: int = 1,
    serial: bool = False,
    progress: Callable[[Progress], None] | None = None,
    client=None,
) -> BuildReport:
    """Build (or finish) the atlas up to ``t`` variables and hyperedges of size ≤ ``hyperedges``.

    The tasks run on ``client`` if given, else on the ``dask.distributed`` scheduler at
    ``scheduler``, else on a new ``LocalCluster`` of ``workers`` processes; ``serial=True`` runs
    them in this process without Dask. ``progress`` is called after every partition written.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise PolyError(f"workers must be a positive integer, got {workers!r}")
    if sum(x is not None for x in (client, scheduler)) + bool(serial) > 1:
        raise PolyError("choose one of serial, scheduler and client")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise PolyError(f"--out {folder} is a file; the atlas is a folder of Parquet partitions")
    planned = plan(t, hyperedges)
    report = BuildReport(folder, workers=None if serial else workers)
    todo = []
    for partition in planned:
        path = folder / partition.name
        if path.exists():
            _check_finished(path, partition)
            report.skipped.append(partition.name)
        else:
            todo.append(partition)
    counts = {(p.t, p.hyperedges): p.index + 1 for p in planned}
    todo.sort(key=lambda p: (-p.t, -p.hyperedges, _spread(p.index, counts[p.t, p.hyperedges])))
    writer = _Writer(report, folder, len(planned), sum(len(p.members) for p in todo), progress)
    if serial:
        writer.start()
        for partition in todo:
            writer.finished(partition, compute(partition.members))
    elif todo:
        _run_on_dask(todo, writer, client, scheduler, workers)
    report.computed.sort()
    return report


def _spread(index: int, count: int) -> int:
    """Bit-reversed ``index``: the first partitions of a family sample all of it (few and many
    hyperedges alike), so that the rate they give estimates the rest."""
    width = max(1, (count - 1).bit_length())
    return int(format(index, f"0{width}b")[::-1], 2)


class _Writer:
    """Writes each partition as it arrives, keeps the report and calls ``progress``."""

    def __init__(self, report: BuildReport, folder: Path, total: int, remaining: int, progress):
        self.report, self.folder, self.total, self.remaining = report, folder, total, remaining
        self.progress = progress
        self.columns = schema()
        self.started = time.perf_counter()

    def start(self) -> None:
        """The clock starts when the tasks are handed out (after a cluster has started)."""
        self.started = time.perf_counter()

    def finished(self, partition: Partition, rows: list[dict]) -> None:
        write_partition(rows, self.columns, self.folder / partition.name)
        report = self.report
        report.computed.append(partition.name)
        report.mechanisms += len(rows)
        report.seconds = time.perf_counter() - self.started
        self.remaining -= len(rows)
        if self.progress is not None:
            done = len(report.computed) + len(report.skipped)
            self.progress(
                Progress(partition.name, done, self.total, report.mechanisms, self.remaining, report.seconds)
            )


def _run_on_dask(todo: list[Partition], writer: _Writer, client, scheduler, workers: int) -> None:
    """Submit one task per partition and hand each result to the writer as it arrives."""
    from dask.distributed import Client, LocalCluster, as_completed

    owned = []
    try:
        if client is None:
            if scheduler is not None:
                try:
                    client = Client(scheduler, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ValueError) as exc:
                    raise PolyError(f"cannot reach a dask scheduler at {scheduler!r}: {exc}") from exc
            else:
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address="127.0.0.1:0",  # a free local port: builds run side by side
                    silence_logs=logging.ERROR,
                )
                owned.append(cluster)
                client = Client(cluster)
            owned.insert(0, client)
        writer.report.workers = len(client.scheduler_info()["workers"])
        writer.start()
        by_key = {}
        for partition in todo:
            future = client.submit(compute, partition.members, pure=False)
            by_key[future.key] = (future, partition)
        for future in as_completed([f for f, _ in by_key.values()]):
            writer.finished(by_key[future.key][1], future.result())
            future.release()
    finally:
        for resource in owned:
            resource.close()
