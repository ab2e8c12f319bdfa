"""What every offline command-line tool shares: a key read from a file, one-line errors,
choices known only at run time.

Keys are read only from files, never from arguments or the environment, so they stay out of
shell history and process listings.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

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
