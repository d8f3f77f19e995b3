"""Terminal tables with rich: cells fold instead of being cut, and data is never read as markup.

Its own module, importing rich alone, so `voxclone prepare` can print a table without the ledger.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 160  # columns when printing to a file or a pipe (no terminal to ask)


def rich_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    """Every cell as plain `Text` (data is never read as rich markup) in columns that fold long
    words onto the next line instead of cutting them, so nothing a user needs is lost; columns
    empty in every row are left out."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    # a column empty in every row (no errors, no previews) only takes width from the others
    columns = [c for c in (rows[0] if rows else []) if any(str(r[c]) for r in rows)]
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(row[c])) for c in columns))
    return table


def print_table(
    rows: list[dict[str, Any]],
    title: str | None = None,
    out: TextIO | None = None,
    width: int | None = None,
) -> None:
    """Print rows to a terminal (its width, colour as rich decides, NO_COLOR obeyed) or to a
    file or pipe (no colour codes, PIPE_WIDTH columns, no trailing padding)."""
    out = out or sys.stdout
    renderable = (
        rich_table(rows, title) if rows else Text(f"{title}\n(none)" if title else "(none)")
    )
    if _is_tty(out):
        Console(file=out, width=width, highlight=False, emoji=False).print(renderable)
        return
    if width is None and not os.environ.get("COLUMNS"):
        width = PIPE_WIDTH  # a log or a pipe has no width; do not squeeze eleven columns into 80
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False, emoji=False, color_system=None).print(
        renderable
    )
    out.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def table_text(rows: list[dict[str, Any]], width: int = 120) -> str:
    """The same table as plain text (no colour codes), for places that want a string."""
    buffer = io.StringIO()
    print_table(rows, out=buffer, width=width)
    return buffer.getvalue().rstrip("\n")


def _is_tty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())
