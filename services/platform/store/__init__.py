"""PostgreSQL durable store for the distributed topology (see docs/multi-tenancy.md).

`migrate` (owner role) brings the schema up to date at start; `Store` (each tenant's own login
role, `add_tenant`) hands out `tenant_session`s whose `TenantRepository` sees one tenant's
rows, enforced by the database's row-level security rather than by the queries.
"""

from arbiter.platform.store.errors import MigrationError, StoreError, TenantMismatch, UnsafeRole
from arbiter.platform.store.ledger import LedgerError, LedgerProjector
from arbiter.platform.store.pool import Store, tenant_dsn
from arbiter.platform.store.provision import (
    add_tenant,
    provision_roles,
    remove_tenant,
    tenant_role,
)
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
    "PositionRow", "SagaEventRow", "SagaRow", "Store", "StoreError", "TenantMismatch",
    "TenantRepository", "UnsafeRole", "add_tenant", "bundled_migrations", "migrate",
    "provision_roles", "remove_tenant", "tenant_dsn", "tenant_role",
]
