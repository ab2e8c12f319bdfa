"""What binding the tenant to the login role costs a query (migration 0006).

Before 0006 the policies compared rows with a plain SQL function of a setting, which the
planner inlines; now `current_tenant()` is SECURITY DEFINER (it reads the owner-only
`tenant_roles`), which the planner never inlines. This starts a throw-away PostgreSQL (the
tests' embedded server), fills `positions` with `--rows` rows for each of two tenants and times,
as tenant A's role, a scan of all its rows and a primary-key lookup under three policies:

* `setting_inlined` — the old predicate, `tenant_id = <inlined current_setting(...)>`;
* `definer_per_row` — `tenant_id = current_tenant()`, the function called per row scanned;
* `definer_initplan` — `tenant_id = (SELECT current_tenant())`, what 0006 installs: one call
  per statement (an InitPlan), its value then used like a constant, index scans included.

Prints one JSON object: per policy, the median microseconds per query and the plan's shape.

    .venv/bin/python tools/bench_current_tenant.py --rows 20000 --repeat 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tenancy.pg_server import Postgres, shared_postgres  # the tests' real server

_OLD = ("CREATE FUNCTION setting_tenant() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE"
        " AS $$ SELECT nullif(current_setting('arbiter.tenant_id', true), '') $$")
POLICIES = {
    "setting_inlined": "tenant_id = setting_tenant()",
    "definer_per_row": "tenant_id = current_tenant()",
    "definer_initplan": "tenant_id = (SELECT current_tenant())",
}
QUERIES = {
    "scan_all_own_rows": "SELECT count(*), sum(qty_micros) FROM positions",
    "primary_key_lookup": ("SELECT qty_micros FROM positions WHERE venue = 'polymarket'"
                           " AND market_id = 'm-777' AND outcome = 1"),
}


def _fill(server: Postgres, rows: int) -> None:
    for tenant_id in ("tenant-a", "tenant-b"):
        with psycopg.connect(server.tenant_dsn(tenant_id)) as conn:
            conn.execute("INSERT INTO positions (venue, market_id, outcome, qty_micros)"
                         " SELECT 'polymarket', 'm-' || i, 1, i FROM generate_series(1, %s) i",
                         (rows,))
    with psycopg.connect(server.dsn("arbiter_owner"), autocommit=True) as conn:
        conn.execute("ANALYZE positions")
        conn.execute(_OLD)


def _time(conn: psycopg.Connection, query: str, repeat: int) -> tuple[float, str]:
    """Median microseconds of `query`, and its plan's node lines."""
    conn.execute(query).fetchall()  # warm: plan cache, buffers
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        conn.execute(query).fetchall()
        samples.append((time.perf_counter_ns() - start) / 1000)
    plan = conn.execute(f"EXPLAIN (COSTS OFF) {query}").fetchall()
    return statistics.median(samples), " | ".join(line.strip() for (line,) in plan)


def run(rows: int, repeat: int) -> dict[str, Any]:
    with shared_postgres() as server:
        _fill(server, rows)
        result: dict[str, Any] = {"rows_per_tenant": rows, "repeat": repeat}
        for name, predicate in POLICIES.items():
            with psycopg.connect(server.dsn("arbiter_owner"), autocommit=True) as owner:
                owner.execute(f"ALTER POLICY tenant_isolation ON positions USING ({predicate})"
                              f" WITH CHECK ({predicate})")
            with psycopg.connect(server.tenant_dsn("tenant-a"), autocommit=True) as conn:
                if name == "setting_inlined":  # what the app used to set for itself
                    conn.execute("SELECT set_config('arbiter.tenant_id', 'tenant-a', false)")
                result[name] = {}
                for label, query in QUERIES.items():
                    micros, plan = _time(conn, query, repeat)
                    result[name][label] = {"median_us": round(micros, 1), "plan": plan}
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="positions per tenant")
    parser.add_argument("--repeat", type=int, default=200, help="timed runs per query")
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.repeat), indent=2))


if __name__ == "__main__":
    main()
