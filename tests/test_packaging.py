"""How the repository behaves as a Python project, seen from a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stdlib_operator_is_not_shadowed_in_the_repo_root() -> None:
    # `python -c` puts the working directory first on sys.path: a top-level `operator/`
    # folder there would be imported instead of the standard library module. -S: no site
    # start-up, whose .pth files (an editable install's finder among them) may import the
    # real `operator` first and so hide the shadowing.
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import operator; operator.eq"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
