-- The audit trail's id (0003) orders the vault's reads of it. It is numbered across every
-- tenant, so a tenant session that could read it would learn, from the gaps between two of
-- its own events, how many events the other tenants had in between. The app role keeps its
-- own tenant's events, every column but the id; only the vault reads ids.
REVOKE SELECT ON audit FROM arbiter_app;
GRANT SELECT (tenant_id, at, actor, action, subject, outcome) ON audit TO arbiter_app;
