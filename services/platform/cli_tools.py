"""What every offline command-line tool shares: a key read from a file, one-line errors,
choices known only at run time, a progress bar for long commands.

Keys are read only from files, never from arguments or the environment, so they stay out of
shell history and process listings.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, NoReturn

import typer

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key-file", exists=True, dir_okay=False, readable=True, help="Private key file."
    ),
]


def fail(error: Exception) -> NoReturn:
    """Print `error: ...` on stderr and exit 2 (bad input), without a traceback."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=2)


def choices(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A typer choice for values known only at run time (registered venues, services): help
    lists them and a bad one is refused before the command runs. Its members are `str`, so
    type the parameter `str` for mypy (`if TYPE_CHECKING: Name = str`)."""
    return StrEnum(name, {value: value for value in values})  # type: ignore[return-value]


PLAIN_PROGRESS_EVERY_S = 5.0


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress_bar(total: int, unit: str, enabled: bool | None = None,
                 stream: IO[str] | None = None) -> Iterator[Callable[[int], None]]:
    """`advance(n)` for `n` more of `total` done, drawn on `stream` (stderr), never on
    stdout: a command's JSON there stays clean. `enabled` None: only when the stream is a
    terminal. Forced on (`--progress`) elsewhere, e.g. in CI, it is a plain line every
    `PLAIN_PROGRESS_EVERY_S` and one at the end, with no control characters."""
    out = stream or sys.stderr
    if not (_is_terminal(out) if enabled is None else enabled):
        yield lambda n: None
        return
    if not _is_terminal(out):
        with _plain_progress(total, unit, out) as advance:
            yield advance
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RateAndEta(ProgressColumn):
        """The rate since the start (a sweep's first results wait for its workers to start;
        a moving window would overstate what follows) and the ETA it implies."""

        def render(self, task: Task) -> Text:
            rate = task.completed / task.elapsed if task.elapsed and task.completed else 0.0
            return Text(_rate_and_eta(rate, task.completed, task.total or 0, unit),
                        style="progress.data.speed")

    columns = (TextColumn(unit), BarColumn(), MofNCompleteColumn(), RateAndEta(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(file=out)) as bar:
        task = bar.add_task(unit, total=total)
        yield lambda n: bar.advance(task, n)


def _rate_and_eta(rate: float, done: float, total: float, unit: str) -> str:
    if not rate:
        return f"- {unit}/s, ETA -"
    left = round((total - done) / rate)
    return f"{rate:.1f} {unit}/s, ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"


@contextlib.contextmanager
def _plain_progress(total: int, unit: str, out: IO[str]) -> Iterator[Callable[[int], None]]:
    start = last = time.monotonic()
    done = 0

    def line() -> None:
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        print(f"{unit} {done}/{total} ({100 * done // max(total, 1)}%), "
              f"{_rate_and_eta(rate, done, total, unit)}, {elapsed:.0f}s elapsed",
              file=out, flush=True)

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= PLAIN_PROGRESS_EVERY_S:
            last = time.monotonic()
            line()

    yield advance
    line()
