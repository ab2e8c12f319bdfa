"""Mutation testing of the money-critical code: how many deliberate bugs the tests catch.

Each target is one module and the tests that guard it. cosmic-ray (the `mutation` extra:
`pip install -e '.[mutation]'`) rewrites the module one mutation at a time (an operator
swapped, a constant nudged, a comparison flipped) and runs those tests; a mutant the tests
still pass "survived", and names a behaviour no test pins down.

It works on a copy of the working tree, never on the tree itself, so an interrupted run
leaves no mutated file behind: the copy's `arbiter` (a link to its `services/`) comes first
on PYTHONPATH, ahead of the editable install.

    python tools/mutation.py                       # every target; JSON on stdout
    python tools/mutation.py --target saga.machine --timeout 60

A full run takes tens of minutes on two cores: it is a tool to run before changing money
code, not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# module under mutation -> the tests that must catch a change in it
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "core.sizing": ("services/core/sizing.py", ("tests/core/test_core_sizing.py",)),
    "core.fees": ("services/core/fees.py", ("tests/core/test_core_fees.py",)),
    "saga.machine": ("services/saga/machine.py", (
        "tests/saga/test_machine.py", "tests/saga/test_legs.py",
        "tests/saga/test_compensation_risk.py")),
    "risk.gates": ("services/risk/gates.py", (
        "tests/risk/test_gates.py", "tests/risk/test_properties.py",
        "tests/risk/test_funds.py")),
    "risk.monitors": ("services/risk/monitors.py", (
        "tests/risk/test_monitor_boundaries.py", "tests/risk/test_hardstop.py")),
    "gateways.orders": ("services/gateways/orders.py", ("tests/gateways/test_order_tracker.py",)),
}


def _copy_tree(into: Path) -> None:
    """The tracked files as they are now (edits included), the generated protobuf code,
    and `arbiter` linked to `services/` so the copy is what the tests import."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    shutil.copytree(ROOT / "services" / "v1", into / "services" / "v1", dirs_exist_ok=True)
    (into / "arbiter").symlink_to("services", target_is_directory=True)


def _pytest(tests: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]


def _run_target(work: Path, env: dict[str, str], name: str, timeout_s: float) -> dict[str, Any]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    module, tests = TARGETS[name]
    baseline = subprocess.run(_pytest(tests), cwd=work, env=env, capture_output=True,
                              text=True, check=False)
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail before any mutation:\n{baseline.stdout[-2000:]}")
    config = work / f"{name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout_s}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(' '.join(_pytest(tests)))}\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n")
    session = work / f"{name}.sqlite"
    started = time.monotonic()
    for step in ("init", "exec"):
        subprocess.run([sys.executable, "-m", "cosmic_ray.cli", step, str(config), str(session)],
                       cwd=work, env=env, check=True, capture_output=True)
    counts = {outcome: 0 for outcome in TestOutcome}
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            counts[result.test_outcome] += 1
            if result.test_outcome is TestOutcome.SURVIVED:
                mutation = item.mutations[0]
                survivors.append(f"{module}:{mutation.start_pos[0]} {mutation.operator_name} "
                                 f"#{mutation.occurrence}")
    judged = counts[TestOutcome.KILLED] + counts[TestOutcome.SURVIVED]
    return {
        "module": module, "tests": list(tests),
        "mutants": sum(counts.values()), "killed": counts[TestOutcome.KILLED],
        "survived": counts[TestOutcome.SURVIVED],
        "incompetent": counts[TestOutcome.INCOMPETENT],
        "kill_rate": round(counts[TestOutcome.KILLED] / judged, 4) if judged else None,
        "seconds": round(time.monotonic() - started, 1),
        "survivors": sorted(survivors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS),
                        help="a module to mutate (repeatable; default: all)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one mutant's tests may take before it counts as killed")
    args = parser.parse_args()
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        raise SystemExit("cosmic-ray is not installed: pip install -e '.[mutation]'") from None
    with tempfile.TemporaryDirectory(prefix="arbiter-mutation-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        env = {**os.environ, "PYTHONPATH": str(work)}
        where = subprocess.run([sys.executable, "-c", "import arbiter; print(arbiter.__file__)"],
                               cwd=work, env=env, capture_output=True, text=True, check=True)
        if not where.stdout.startswith(str(work)):
            raise SystemExit(f"the copy is not what imports: arbiter is {where.stdout.strip()}")
        results = {name: _run_target(work, env, name, args.timeout)
                   for name in (args.target or sorted(TARGETS))}
    killed = sum(r["killed"] for r in results.values())
    judged = killed + sum(r["survived"] for r in results.values())
    print(json.dumps({"targets": results, "killed": killed, "judged": judged,
                      "kill_rate": round(killed / judged, 4) if judged else None}, indent=2))


if __name__ == "__main__":
    main()
