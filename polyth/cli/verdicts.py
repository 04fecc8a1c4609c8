"""The verdict table the ``report`` and ``verify`` commands print: each check, its verdict
(PASS, FAIL, INCONCLUSIVE) and the one-line reason, then the count of each."""

from __future__ import annotations

from polyth.cli.arguments import console

STYLES = {"PASS": "green", "FAIL": "bold red", "INCONCLUSIVE": "yellow"}


def print_verdicts(rows, title: str) -> None:
    """``rows``: (mechanism, check, :class:`polyth.verify.verdict.Verdict`) triples."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    table.add_column("mechanism")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("reason", overflow="fold")
    counts: dict[str, int] = {}
    for mechanism, check, verdict in rows:
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
        table.add_row(Text(mechanism), Text(check), Text(verdict.status, style=STYLES[verdict.status]),
                      Text(verdict.reason))  # fmt: skip
    console().print(table)
    print(", ".join(f"{counts.get(status, 0)} {status}" for status in STYLES))
