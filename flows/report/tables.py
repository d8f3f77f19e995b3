"""Terminal tables with rich that read at 80 and at 120 columns.

A cell is never broken or cut: ids, URLs, paths and numbers are copied out of a terminal into the
next command. Columns are given most important first; when the table does not fit the terminal the
last ones are left out (and named under it), and free text (why a clone failed, what was cut) is
printed as sentences under the table instead of in a column. Data is never read as rich markup.

Its own module, importing rich alone, so `voxclone prepare` can print a table without the ledger.
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 160  # columns when printing to a file or a pipe (no terminal to ask)


def fit_columns(rows: Sequence[dict[str, Any]], width: int) -> tuple[list[str], list[str]]:
    """(shown, left out): the columns in their order, without those empty in every row, as many
    of the first as rich lays out whole in `width` (at least the first)."""
    columns = [c for c in (rows[0] if rows else []) if any(str(r[c]) for r in rows)]
    for n in range(len(columns), 1, -1):
        if _natural_width(rows, columns[:n]) <= width:
            return columns[:n], columns[n:]
    return columns[:1], columns[1:]


def _natural_width(rows: Sequence[dict[str, Any]], columns: list[str]) -> int:
    console = Console(width=100_000, file=io.StringIO())  # measures are clamped to its width
    return console.measure(rich_table(rows, columns, None)).maximum


def rich_table(
    rows: Sequence[dict[str, Any]], columns: list[str], title: str | None, whole: bool = True
) -> Table:
    """Plain `Text` cells (never markup) in columns that do not wrap (`whole`), or that fold a
    value over lines rather than cut it when even one column is wider than the terminal."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for column in columns:
        table.add_column(Text(column), no_wrap=whole, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(row[c])) for c in columns))
    return table


def sentences(
    rows: Iterable[dict[str, Any]], below: Sequence[str], key: Sequence[str]
) -> list[str]:
    """Lines for the text columns of each row: 'libri-2414 · anam: 54.9 s of speech; …'."""
    out = []
    for row in rows:
        who = " · ".join(str(row[k]) for k in key if row.get(k))
        for column in below:
            for value in str(row.get(column) or "").splitlines():  # a line a sentence
                # a sentence speaks for itself; a bare value (a URL, an id) is named
                label = f"{column} " if " " not in value else ""
                out.append(f"{who}: {label}{value}")
    return out


def print_table(
    rows: list[dict[str, Any]],
    title: str | None = None,
    out: TextIO | None = None,
    width: int | None = None,
    *,
    below: Sequence[str] = (),
    key: Sequence[str] = (),
) -> None:
    """The rows as a table that fits the terminal (or PIPE_WIDTH columns in a file or a pipe, with
    no colour codes and no trailing spaces), the `below` columns as sentences under it, each
    begun by the row's `key` cells (default: its first two)."""
    out = out or sys.stdout
    tty = _is_tty(out)
    width = width or width_of(out)
    key = (list(key) or list(rows[0])[:2]) if rows else []
    cells = [{c: v for c, v in r.items() if c not in below} for r in rows]
    lines: list[str] = []
    if not rows:
        lines = [f"{title}\n(none)" if title else "(none)"]
        _print(Text("\n".join(lines)), out, width, tty)
        return
    columns, left_out = fit_columns(cells, width)
    whole = _natural_width(cells, columns) <= width
    _print(rich_table(cells, columns, title, whole), out, width, tty)
    if left_out:
        lines.append(
            f"(not shown at {width} columns: {', '.join(left_out)}; widen the terminal, or --json)"
        )
    lines += sentences(rows, below, key)
    for line in lines:
        out.write(wrap(line, width) + "\n")


def wrap(line: str, width: int) -> str:
    """A sentence over several lines at spaces only: a URL or an id longer than the line stays
    whole on a line of its own (the terminal folds it, a copy gets it whole)."""
    return "\n".join(
        textwrap.wrap(line, width, subsequent_indent="    ", break_long_words=False,
                      break_on_hyphens=False) or [""]
    )  # fmt: skip


def table_text(rows: list[dict[str, Any]], width: int = 120, **kwargs: Any) -> str:
    """The same table as plain text (no colour codes), for places that want a string."""
    buffer = io.StringIO()
    print_table(rows, out=buffer, width=width, **kwargs)
    return buffer.getvalue().rstrip("\n")


def _print(renderable: Any, out: TextIO, width: int, tty: bool) -> None:
    if tty:
        Console(file=out, width=width, highlight=False, emoji=False).print(renderable)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False, emoji=False, color_system=None).print(
        renderable
    )
    out.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def width_of(out: TextIO) -> int:
    """The terminal's columns; COLUMNS when set; PIPE_WIDTH for a file or a pipe (a log has no
    width: do not squeeze a table into 80)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if _is_tty(out):
        return Console(file=out).width
    return PIPE_WIDTH


def _is_tty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())
