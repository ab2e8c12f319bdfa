"""Rewrite the generated configuration reference in docs/configuration.md from the models.

    python tools/gen_config_docs.py
"""

from __future__ import annotations

from pathlib import Path

from arbiter.platform.config_docs import updated

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

if __name__ == "__main__":
    DOC.write_text(updated(DOC.read_text()))
    print(f"wrote {DOC.relative_to(DOC.parents[1])}")
