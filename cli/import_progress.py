"""The progress bar of ``kith import``: lines done out of the file's lines, the rate and
the time left, redrawn after each chunk on a terminal; scripts and CI (no terminal on
stderr) get only the summary."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

OnChunk = Callable[[dict[str, Any]], None]


def line_count(path: Path, sheet: str | None = None) -> int | None:
    """Lines after the header: the bar's end.  A CSV's physical lines (a cell with a line
    break inside makes the bar end a little early, never late); a workbook's rows as its
    sheet's dimensions record them (None when the file does not say)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        try:
            rows = (book[sheet] if sheet else book.worksheets[0]).max_row
        finally:
            book.close()
        return None if rows is None else max(rows - 1, 0)
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0)


@contextmanager
def progress_bar(path: Path, sheet: str | None = None) -> Iterator[OnChunk | None]:
    """A callback for ``runner.run(on_chunk=...)`` that moves a bar, or None without a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    total = line_count(path, sheet)
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"Importing {path.name}", total=total, failed=0)

        def moved(stored: dict[str, Any]) -> None:
            done = int(stored["next_line"]) - 2
            bar.update(task, completed=done if total is None else min(done, total), failed=stored["failed"])

        yield moved
