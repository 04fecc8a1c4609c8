"""Building the atlas: on a LocalCluster or serially the same bytes, resumable, losing nothing.

* A build at t ≤ 4 (hyperedges of size 2 or 3) on a two-worker LocalCluster, one of whose
  workers is killed while it computes a partition, regenerates the shipped atlas's t ≤ 4
  partitions byte for byte.
* Partitions computed serially, in this process, are the same bytes.
* An interrupted build leaves only finished partitions; the next build computes the others
  and rewrites none of them.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import polyth.atlas.pipeline as pipeline
from polyth.atlas.columns import schema
from polyth.atlas.store import SHIPPED, partitions, write_partition
from polyth.errors import PolyError

SHIPPED_UP_TO_4 = sorted(p.name for p in partitions(SHIPPED) if int(p.name[1]) <= 4)


def _same_bytes(folder: Path, names: list[str]) -> list[str]:
    return [name for name in names if (folder / name).read_bytes() != (SHIPPED / name).read_bytes()]


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two single-threaded worker processes, and a client of it."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
    ) as local:
        with Client(local) as client:
            yield local, client


@pytest.fixture(scope="module")
def cluster_build(cluster, tmp_path_factory):
    """build(4, 3) on the cluster; when the first partition arrives, a busy worker is killed."""
    _, client = cluster
    out = tmp_path_factory.mktemp("atlas-cluster")
    killed = []

    def kill_a_busy_worker(progress):
        if killed:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            busy = [worker for worker, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append((busy[0], progress.partition))
                return
            time.sleep(0.05)

    report = pipeline.build(4, 3, out=out, client=client, progress=kill_a_busy_worker)
    return out, report, killed


def test_the_shipped_atlas_holds_t_up_to_4():
    assert SHIPPED_UP_TO_4 == [
        "t2-e2-00000.parquet",
        "t3-e2-00000.parquet",
        "t3-e3-00000.parquet",
        "t4-e2-00000.parquet",
        "t4-e3-00000.parquet",
        "t4-e3-00001.parquet",
        "t4-e3-00002.parquet",
    ]


def test_a_cluster_build_with_a_killed_worker_regenerates_the_shipped_atlas(cluster_build):
    out, report, killed = cluster_build
    assert killed, "no worker was busy when the first partition arrived"
    assert report.computed == SHIPPED_UP_TO_4 and report.skipped == []
    assert report.mechanisms == 232
    assert [p.name for p in partitions(out)] == SHIPPED_UP_TO_4
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written file
    assert _same_bytes(out, SHIPPED_UP_TO_4) == []


@pytest.mark.parametrize("name", ["t3-e3-00000.parquet", "t4-e3-00002.parquet"])
def test_a_serial_partition_is_the_same_bytes(cluster_build, tmp_path, name):
    out, _, _ = cluster_build
    partition = next(p for p in pipeline.plan(4, 3) if p.name == name)
    write_partition(pipeline.compute(partition.members), schema(), tmp_path / name)
    assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_a_build_on_a_running_scheduler(cluster, tmp_path):
    local, _ = cluster
    report = pipeline.build(3, 3, out=tmp_path, scheduler=local.scheduler_address)
    assert report.workers == 2
    assert report.computed == [name for name in SHIPPED_UP_TO_4 if int(name[1]) <= 3]
    assert _same_bytes(tmp_path, report.computed) == []


class Interrupt(Exception):
    pass


def test_an_interrupted_build_resumes_without_recomputing(tmp_path):
    seen = []

    def stop_after_one(progress):
        seen.append(progress)
        raise Interrupt

    with pytest.raises(Interrupt):
        pipeline.build(4, 2, out=tmp_path, serial=True, progress=stop_after_one)
    (first,) = [p.name for p in partitions(tmp_path)]
    assert seen[0].partition == first and seen[0].done == 1 and seen[0].total == 3
    before = (tmp_path / first).stat()

    progress = []
    report = pipeline.build(4, 2, out=tmp_path, serial=True, progress=progress.append)
    assert report.skipped == [first]
    assert sorted(report.computed + report.skipped) == [
        "t2-e2-00000.parquet",
        "t3-e2-00000.parquet",
        "t4-e2-00000.parquet",
    ]
    after = (tmp_path / first).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.done for p in progress] == [2, 3] and progress[-1].remaining_mechanisms == 0
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in progress)
    assert _same_bytes(tmp_path, report.computed + report.skipped) == []

    again = pipeline.build(4, 2, out=tmp_path, serial=True)
    assert again.computed == [] and len(again.skipped) == 3 and again.mechanisms == 0


def test_a_partition_that_is_not_the_planned_one_is_refused(tmp_path):
    (tmp_path / "t2-e2-00000.parquet").write_bytes((SHIPPED / "t3-e2-00000.parquet").read_bytes())
    with pytest.raises(PolyError, match="does not hold the mechanisms"):
        pipeline.build(3, 2, out=tmp_path, serial=True)


def test_bad_builds_are_refused(tmp_path, monkeypatch):
    with pytest.raises(PolyError, match="workers must be"):
        pipeline.build(3, out=tmp_path, workers=0)
    with pytest.raises(PolyError, match="choose one of"):
        pipeline.build(3, out=tmp_path, serial=True, scheduler="tcp://127.0.0.1:1")
    (tmp_path / "file").write_text("")
    with pytest.raises(PolyError, match="is a file"):
        pipeline.build(3, out=tmp_path / "file", serial=True)
    with pytest.raises(PolyError, match="t must be"):
        pipeline.build(9, out=tmp_path, serial=True)
    monkeypatch.setattr(pipeline, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(PolyError, match="cannot reach a dask scheduler"):
        pipeline.build(3, out=tmp_path / "remote", scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "remote").exists()
