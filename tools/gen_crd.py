"""Write the Tenant CRD, generated from the config models, into the chart.

    python tools/gen_crd.py           # rewrite charts/arbiter/crds/tenants.arbiter.dev.yaml
    python tools/gen_crd.py --check   # exit 1 if the committed file is stale

Run it after changing a field of `services/platform/config.py` that a Tenant carries (tier,
market pairs, risk, venues) or `services/operator/spec.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arbiter.operator.crd import CRD_PATH, tenant_crd_yaml

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    path = ROOT / CRD_PATH
    text = tenant_crd_yaml()
    if args.check:
        if path.read_text() != text:
            print(f"{CRD_PATH} is stale: run python tools/gen_crd.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {CRD_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
