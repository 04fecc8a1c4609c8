"""Training sweeps on Dask (polyth.tasks.sweep): a tiny real sweep on a LocalCluster, resume, failures."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torch")
distributed = pytest.importorskip("dask.distributed")

from polyth.errors import InputError, PolyError  # noqa: E402
from polyth.tasks import sweep  # noqa: E402
from polyth.tasks.authors_protocol import train_authors  # noqa: E402
from polyth.tasks.sweep import SweepTask, ordered_tasks, run_sweep  # noqa: E402


def test_order_first_seed_then_the_others_and_the_expensive_model_last():
    tasks = ordered_tasks(
        ["tree-1L", "self-2L"], ["authors", "definition-2.2"], [61, 62], 10, 8, expensive=["self-2L"]
    )
    assert [t.key for t in tasks] == [
        "tree-1L_authors_seed61",
        "tree-1L_definition-2.2_seed61",
        "tree-1L_authors_seed62",
        "tree-1L_definition-2.2_seed62",
        "self-2L_authors_seed61",
        "self-2L_definition-2.2_seed61",
        "self-2L_authors_seed62",
        "self-2L_definition-2.2_seed62",
    ]


def test_a_tiny_sweep_on_a_local_cluster_writes_each_run_as_training_it_here_gives(tmp_path):
    tasks = [
        SweepTask("tree-1L", "authors", 61, 3, 8, 1),
        SweepTask("self-1L", "definition-2.2", 62, 3, 8, 1),
    ]
    seen = []
    results = run_sweep(tasks, tmp_path, workers=2, progress=False, on_result=lambda t, r: seen.append(t.key))
    assert sorted(seen) == sorted(t.key for t in tasks)
    for task, result in zip(tasks, results):
        stored = json.loads((tmp_path / f"{task.key}.json").read_text())
        assert stored == result and stored["sweep_task"]["seed"] == task.seed
        assert result["config"]["torch_threads"] == 1  # one thread per worker process
        here = train_authors(
            task.model, task.semantics, task.seed, task.steps, task.batch, task.window, threads=1
        )
        assert (result["accuracy"], result["loss"]) == (here.accuracy, here.loss)
    assert not list(tmp_path.glob("checkpoints/*.pt"))  # finished runs leave no checkpoint


CALLS: list[str] = []


def fake_run(task: SweepTask, checkpoint: str | None) -> dict:
    """Stands in for training on an in-process cluster: records the call."""
    CALLS.append(task.key)
    if task.seed == 13:
        raise RuntimeError("diverged")
    return {"model": task.model, "seed": task.seed}


@pytest.fixture
def scheduler():
    """An in-process cluster, reached by address as ``--scheduler ADDRESS`` reaches one."""
    CALLS.clear()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def test_a_sweep_started_again_runs_only_what_has_no_result(tmp_path, scheduler):
    tasks = [SweepTask("tree-1L", "authors", s, 5, 4) for s in (1, 2, 3)]
    run_sweep(tasks[:1], tmp_path, run=fake_run, scheduler=scheduler, progress=False)
    assert CALLS == [tasks[0].key]
    results = run_sweep(tasks, tmp_path, run=fake_run, scheduler=scheduler, progress=False)
    assert sorted(CALLS[1:]) == sorted(t.key for t in tasks[1:]) and len(CALLS) == 3
    assert [r["seed"] for r in results] == [1, 2, 3]
    (tmp_path / f"{tasks[2].key}.json").write_text('{"model": "tree-1L", "se')  # a write cut short
    run_sweep(tasks, tmp_path, run=fake_run, scheduler=scheduler, progress=False)
    assert CALLS[3:] == [tasks[2].key]


def test_a_result_of_another_configuration_is_not_taken_for_this_run(tmp_path, scheduler):
    task = SweepTask("tree-1L", "authors", 1, 5, 4)
    run_sweep([task], tmp_path, run=fake_run, scheduler=scheduler, progress=False)
    longer = SweepTask("tree-1L", "authors", 1, 50, 4)
    with pytest.raises(InputError, match="another configuration"):
        run_sweep([longer], tmp_path, run=fake_run, scheduler=scheduler, progress=False)


def test_a_failed_run_does_not_stop_the_others(tmp_path, scheduler):
    tasks = [SweepTask("tree-1L", "authors", s, 5, 4) for s in (13, 14)]
    with pytest.raises(PolyError, match="1 of 2 runs failed: tree-1L_authors_seed13: RuntimeError: diverged"):
        run_sweep(tasks, tmp_path, run=fake_run, scheduler=scheduler, progress=False)
    assert (tmp_path / f"{tasks[1].key}.json").exists() and not (tmp_path / f"{tasks[0].key}.json").exists()
    with pytest.raises(InputError, match="twice"):
        run_sweep(tasks + tasks[:1], tmp_path, run=fake_run, scheduler=scheduler, progress=False)


def test_the_default_cluster_has_one_single_threaded_worker_process_per_core(monkeypatch):
    made = {}

    class Recorder:
        def __init__(self, *args, **kwargs):
            made.setdefault("calls", []).append(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(distributed, "LocalCluster", Recorder)
    monkeypatch.setattr(distributed, "Client", Recorder)
    with sweep.dask_client():
        pass
    cluster = made["calls"][0]
    assert cluster["n_workers"] == os.cpu_count() and cluster["threads_per_worker"] == 1
    assert cluster["processes"] is True
    with pytest.raises(InputError, match="workers"):
        with sweep.dask_client(workers=0):
            pass
