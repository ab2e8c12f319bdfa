"""Store errors: each says what is wrong and what to do about it."""


class StoreError(RuntimeError):
    """The durable store cannot be used as configured."""


class MigrationError(StoreError):
    """A migration file is malformed, failed, or was edited after it was applied."""


class UnsafeRole(StoreError):
    """The services' database role could bypass row-level security."""


class TenantMismatch(StoreError):
    """The database maps the store's login role to another tenant than the one asked for."""
