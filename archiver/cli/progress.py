"""Progress bars on the terminal for long commands (ingest, verify, reports, export, dispose).

Drawn with rich on stderr, and only when stderr is a terminal and the command does not print
JSON: a pipe, a log file or a test's captured output gets nothing. Services report progress
through a plain callback (``Advance``), so they never import rich.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]  # called with how many more items are done
T = TypeVar("T")
EVERY = 1000  # items between two updates of a counted iteration: a bar needs no more


def _nothing(_done: int) -> None:
    return None


@contextmanager
def bar(description: str, unit: str, total: int | None = None, quiet: bool = False,
        console: Console | None = None) -> Iterator[Advance]:
    """A bar counting ``unit`` (messages, rows, segments): count, rate and, with a ``total``, time left.

    Yields the callback that advances it; a callback that does nothing when the bar is not shown
    (``quiet``, e.g. with ``--json``, or stderr is not a terminal).
    """
    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield _nothing
        return
    columns = [TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn() if total else TextColumn("{task.completed:,.0f}"), TextColumn(unit),
               TextColumn("{task.fields[rate]}"), TaskProgressColumn() if total else TextColumn(""),
               TimeRemainingColumn() if total else TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total, rate="")

        def advance(done: int) -> None:
            progress.advance(task, done)
            speed = progress.tasks[task].speed
            progress.update(task, rate=f"{speed:,.0f} {unit}/s" if speed else "")

        yield advance


def counted(items: Iterable[T], advance: Advance) -> Iterator[T]:
    """``items`` unchanged, advancing the bar every ``EVERY`` items and once at the end."""
    done = 0
    for done, item in enumerate(items, 1):
        yield item
        if done % EVERY == 0:
            advance(EVERY)
    advance(done % EVERY)
