"""``polyth tasks check | train | predict``: can a mechanism solve a polyadic task?

Three independent answers (see :mod:`polyth.tasks`): an explicit construction run
through the kernels (``check``), a trained one-layer model (``train``) and a
prediction from the structure alone (``predict``). Each subcommand lives in its own
module (``polyth.cli.tasks_<name>``) exposing ``register(subparsers)``, listed
in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

from polyth.cli import tasks_check, tasks_predict, tasks_train

SUBCOMMANDS = [tasks_check, tasks_train, tasks_predict]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tasks", help="polyadic tasks: check a construction, train a model, predict solvability"
    )
    inner = parser.add_subparsers(dest="tasks_command", metavar="TASKS_COMMAND", required=True)
    for command in SUBCOMMANDS:
        command.register(inner)
