"""PostgreSQL durable store for the distributed topology (see docs/multi-tenancy.md).

`migrate` (owner role) brings the schema up to date at start; `Store` (app role) hands out
`tenant_session`s whose `TenantRepository` sees one tenant's rows, enforced by the database's
row-level security rather than by the queries.
"""

from arbiter.platform.store.errors import MigrationError, StoreError, UnsafeRole
from arbiter.platform.store.ledger import LedgerError, LedgerProjector
from arbiter.platform.store.pool import Store, provision_roles
from arbiter.platform.store.repository import (
    FillRow,
    OrderRow,
    PositionRow,
    SagaEventRow,
    SagaRow,
    TenantRepository,
)
from arbiter.platform.store.schema import Migration, bundled_migrations, migrate

__all__ = [
    "FillRow", "LedgerError", "LedgerProjector", "Migration", "MigrationError", "OrderRow",
    "PositionRow", "SagaEventRow", "SagaRow", "Store", "StoreError", "TenantRepository",
    "UnsafeRole", "bundled_migrations", "migrate", "provision_roles",
]
