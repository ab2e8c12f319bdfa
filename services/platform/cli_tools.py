"""What every offline command-line tool shares: a key read from a file, one-line errors.

Keys are read only from files, never from arguments or the environment, so they stay out of
shell history and process listings.
"""

from __future__ import annotations

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
