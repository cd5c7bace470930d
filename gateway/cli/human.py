"""Output for people: tables, sections and times rendered with rich, and progress bars.

Everything is rendered to a string and printed with ``click.echo``, so click's streams (and its
test runner) see it. On a terminal the output has colour (unless ``NO_COLOR`` is set) and fits
the window; anywhere else (a pipe, a file, a test) it is plain text, never wrapped, so each row
stays one line that ``grep`` and ``cut`` can read. Progress bars go to stderr, and only when
stderr is a terminal: scripts, CI and tests see none.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich import box
from rich.console import Console, RenderableType
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 10_000  # off a terminal, rows are never wrapped
Cell = str | int | float | None
ProgressCallback = Callable[[int, int], None]


def _terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _console(out: io.StringIO) -> Console:
    stdout = sys.stdout
    if _terminal(stdout):
        colour = "NO_COLOR" not in os.environ
        return Console(file=out, force_terminal=colour, no_color=not colour, highlight=False, markup=False)
    return Console(file=out, width=PLAIN_WIDTH, color_system=None, highlight=False, emoji=False, markup=False)


def render(*parts: RenderableType) -> str:
    """``parts`` as the text a person reads, one after the other, a blank line before each heading
    but the first. Values are never read as rich markup: a reason may hold ``[...]``."""
    out = io.StringIO()
    console = _console(out)
    for index, part in enumerate(parts):
        if index and isinstance(part, Heading):
            console.print()
        console.print(part)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").split("\n"))


def echo(*parts: RenderableType) -> None:
    click.echo(render(*parts))


class Heading(Text):
    """A section's title (``render`` sets it apart with a blank line)."""


def heading(title: str, note: str = "") -> Heading:
    text = Heading(title, style="bold")
    if note:
        text.append(f"  {note}", style="dim")
    return text


def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "") -> Table:
    """A table with a header row; empty cells print as a dash."""
    grid = Table(
        title=title or None,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    cells = [[cell_text(c) for c in row] for row in rows]
    for index, column in enumerate(columns):
        # On a narrow terminal text wraps between words; ids and codes (no spaces) never break.
        words = [w for row in cells for w in row[index].split()]
        spaced = any(" " in row[index] for row in cells)
        longest = max(map(len, words), default=1)
        grid.add_column(column, no_wrap=not spaced, min_width=min(longest, 20), overflow="fold")
    for row in cells:
        grid.add_row(*(Text(c) for c in row))
    return grid


def cell_text(value: Cell) -> str:
    if value is None or value == "":
        return "-"
    return str(value)


def when(value: str | None) -> str:
    """An ISO 8601 instant as ``YYYY-MM-DD HH:MM UTC``; a date stays a date."""
    if not value:
        return "-"
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if len(value) <= 10:
        return instant.date().isoformat()
    if instant.tzinfo is None:
        return instant.strftime("%Y-%m-%d %H:%M")
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def count(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@contextmanager
def progress_bar(
    label: str, *, show: bool = True, in_bytes: bool = True
) -> Iterator[ProgressCallback | None]:
    """A callback ``(done, total)`` driving a bar on stderr, or None when there is nobody to see it
    (``show`` false, or stderr not a terminal)."""
    stderr = sys.stderr
    if not show or not _terminal(stderr):
        yield None
        return
    amount = DownloadColumn() if in_bytes else TextColumn("{task.completed}/{task.total}")
    columns = (TextColumn("{task.description}"), BarColumn(), amount, TimeRemainingColumn())
    console = Console(file=sys.stderr, no_color="NO_COLOR" in os.environ)
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield advance


@contextmanager
def pull_progress(*, show: bool = True) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A callback ``(resource, records, total)`` with one bar per resource pulled, on stderr when it
    is a terminal; None otherwise."""
    stderr = sys.stderr
    if not show or not _terminal(stderr):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} records"))
    console = Console(file=sys.stderr, no_color="NO_COLOR" in os.environ)
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, Any] = {}

        def advance(resource: str, records: int, total: int | None) -> None:
            if resource not in tasks:
                tasks[resource] = bar.add_task(resource, total=total)
            bar.update(tasks[resource], completed=records, total=total)

        yield advance
