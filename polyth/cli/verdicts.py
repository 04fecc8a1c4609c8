"""The verdicts the ``report`` and ``verify`` commands print: each check on one line (its
verdict, mechanism and name), its one-line reason wrapped beneath at the terminal's width, then
the count of each verdict."""

from __future__ import annotations

from polyth.cli.arguments import console

STYLES = {"PASS": "green", "FAIL": "bold red", "INCONCLUSIVE": "yellow"}
INDENT = len("INCONCLUSIVE") + 2


def print_verdicts(rows, title: str) -> None:
    """``rows``: (mechanism, check, :class:`polyth.verify.verdict.Verdict`) triples."""
    from rich.padding import Padding
    from rich.text import Text

    out = console()
    out.print(Text(title, style="bold"))
    counts: dict[str, int] = {}
    for mechanism, check, verdict in rows:
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
        head = Text(f"{verdict.status:<{INDENT}}", style=STYLES[verdict.status])
        head.append(f"{mechanism} · {check}")
        out.print(head, soft_wrap=True)
        out.print(Padding(Text(verdict.reason), (0, 0, 0, INDENT), expand=False))
    out.print(", ".join(f"{counts.get(status, 0)} {status}" for status in STYLES), markup=False)
