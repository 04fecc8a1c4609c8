"""Training sweeps on Dask: every (model, semantics, seed) run is an independent task.

:func:`run_sweep` submits the runs that have no result yet to a ``dask.distributed`` client
(by default an embedded ``LocalCluster`` with one single-threaded worker process per core;
``scheduler="tcp://host:8786"`` uses an existing cluster instead) and writes each result to its
own JSON file, ``<directory>/<model>_<semantics>_seed<seed>.json``, as soon as it arrives. A
sweep started again on the same directory skips the runs whose file is there, so an interrupted
sweep loses at most the runs in flight, and those resume from their checkpoints
(``<directory>/checkpoints/``, written by the worker: on a remote cluster, on the worker's own
disk). A progress bar counts the runs done out of the total. Runs are submitted in the given
order with decreasing priority, so the first ones start first.

    >>> tasks = [SweepTask("tree-1L", "authors", 61, steps=2, batch=8)]
    >>> results = run_sweep(tasks, "/tmp/sweep", workers=1, progress=False)
    >>> results[0]["seed"]
    61
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from polyth.errors import InputError, PolyError


@dataclass(frozen=True)
class SweepTask:
    """One training run of a sweep: what :func:`polyth.tasks.authors_protocol.train_authors` needs."""

    model: str
    semantics: str
    seed: int
    steps: int
    batch: int
    window: int = 100

    @property
    def key(self) -> str:
        """The run's name, also its result file's stem."""
        return f"{self.model}_{self.semantics}_seed{self.seed}"


def run_task(task: SweepTask, checkpoint: str | None = None) -> dict:
    """Train one task with one torch thread (a worker's share of one core); the run as a dict."""
    from polyth.tasks.authors_protocol import train_authors

    run = train_authors(
        task.model,
        task.semantics,
        task.seed,
        steps=task.steps,
        batch=task.batch,
        window=task.window,
        threads=1,
        checkpoint=checkpoint,
    )
    return run.to_dict()


def ordered_tasks(
    models, semantics, seeds, steps: int, batch: int, window: int = 100, expensive=()
) -> list[SweepTask]:
    """Every (model, semantics, seed), in the order a sweep should start them: the first seed
    (every semantics, then every model), then the other seeds semantics by semantics; the
    ``expensive`` models after all the others, in the same order among themselves."""
    models, semantics, seeds = list(models), list(semantics), list(seeds)
    grid = [SweepTask(m, s, seed, steps, batch, window) for seed in seeds for s in semantics for m in models]

    def priority(t: SweepTask):
        later = t.seed != seeds[0]
        return (
            t.model in expensive,
            later,
            semantics.index(t.semantics),
            seeds.index(t.seed),
            models.index(t.model),
        )

    return sorted(grid, key=priority)


def result_path(directory: Path, task: SweepTask) -> Path:
    return Path(directory) / f"{task.key}.json"


def checkpoint_path(directory: Path, task: SweepTask) -> Path:
    return Path(directory) / "checkpoints" / f"{task.key}.pt"


def finished_result(directory: Path, task: SweepTask) -> dict | None:
    """The stored result of ``task``, None if there is none (or an unreadable one, from a write
    cut short); an InputError if the file holds another configuration of the same run."""
    path = result_path(directory, task)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    found = stored.get("sweep_task") if isinstance(stored, dict) else None
    if found != asdict(task):
        raise InputError(
            f"{path} holds another configuration of this run ({found}, not {asdict(task)}): "
            "move it away or write the sweep to another directory"
        )
    return stored


def _write(path: Path, document: dict) -> None:
    """Write atomically: a file is either absent or complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(partial, path)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None):
    """A client of the cluster at ``scheduler``, or of a new LocalCluster with ``workers``
    single-threaded worker processes (default: one per core), closed on exit."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: another user's cluster may hold 8787
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_sweep(
    tasks: Sequence[SweepTask],
    directory: str | os.PathLike,
    run: Callable[[SweepTask, str | None], dict] = run_task,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    on_result: Callable[[SweepTask, dict], None] | None = None,
) -> list[dict]:
    """Run every task of ``tasks`` without a result in ``directory`` on Dask; all results, in order.

    ``run(task, checkpoint_path)`` trains one task on a worker (default :func:`run_task`);
    ``on_result(task, result)`` is called on the client after each result is written. A task
    that fails does not stop the others; the sweep raises a PolyError naming the failures
    after the rest have finished (and been written).
    """
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    directory = Path(directory)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise InputError("a sweep lists the same (model, semantics, seed) twice")
    pending = [t for t in tasks if finished_result(directory, t) is None]
    failures = []
    bar = tqdm(
        total=len(tasks), initial=len(tasks) - len(pending), desc="runs", unit="run", disable=not progress
    )
    try:
        if pending:
            with dask_client(scheduler, workers) as client:
                futures = {
                    client.submit(
                        run,
                        task,
                        str(checkpoint_path(directory, task)),
                        key=f"train-{task.key}",
                        priority=len(pending) - i,
                        pure=False,
                    ): task
                    for i, task in enumerate(pending)
                }
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # reported with its task once the others have finished
                        failures.append(f"{task.key}: {type(exc).__name__}: {exc}")
                        continue
                    _write(result_path(directory, task), {**result, "sweep_task": asdict(task)})
                    checkpoint_path(directory, task).unlink(missing_ok=True)  # only once the result is safe
                    bar.update(1)
                    if on_result is not None:
                        on_result(task, result)
    finally:
        bar.close()
    if failures:
        raise PolyError(f"{len(failures)} of {len(tasks)} runs failed: " + "; ".join(failures))
    return [finished_result(directory, t) for t in tasks]
