-- Tenant-owned tables, each under a FORCED row-level-security policy.
--
-- Runs as the owner role. The services connect as arbiter_app (not owner, not superuser,
-- NOBYPASSRLS) and see only the rows of the tenant named by the transaction-local setting
-- arbiter.tenant_id, which tenant_session() sets with set_config(..., true). With no tenant
-- set, current_tenant() is NULL or '' and matches no row. Money and sizes are integer
-- micro-units (bigint); there is no floating-point column.

CREATE DOMAIN tenant_ref AS text
    CHECK (VALUE ~ '^[a-z0-9][a-z0-9-]{0,62}$');

-- The tenant of the current transaction. STABLE and plain SQL, so the planner inlines it.
CREATE FUNCTION current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('arbiter.tenant_id', true), '') $$;

CREATE TABLE sagas (
    tenant_id  tenant_ref  NOT NULL DEFAULT current_tenant(),
    saga_id    text        NOT NULL,
    state      text        NOT NULL,
    pair_id    text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, saga_id)
);
CREATE INDEX sagas_by_state ON sagas (tenant_id, state);

CREATE TABLE saga_events (
    tenant_id  tenant_ref  NOT NULL DEFAULT current_tenant(),
    saga_id    text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 0),
    state      text        NOT NULL,
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, saga_id, version)
);

CREATE TABLE orders (
    tenant_id          tenant_ref  NOT NULL DEFAULT current_tenant(),
    client_order_id    text        NOT NULL,
    saga_id            text        NOT NULL,
    venue              smallint    NOT NULL,
    market_id          text        NOT NULL,
    outcome            smallint    NOT NULL,
    qty_micros         bigint      NOT NULL CHECK (qty_micros > 0),
    limit_price_micros bigint      NOT NULL CHECK (limit_price_micros BETWEEN 0 AND 1000000),
    venue_order_id     text,
    status             text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, client_order_id)
);
CREATE INDEX orders_by_saga ON orders (tenant_id, saga_id);

CREATE TABLE fills (
    tenant_id       tenant_ref  NOT NULL DEFAULT current_tenant(),
    venue           smallint    NOT NULL,
    trade_id        text        NOT NULL,
    client_order_id text        NOT NULL,
    price_micros    bigint      NOT NULL CHECK (price_micros BETWEEN 0 AND 1000000),
    qty_micros      bigint      NOT NULL CHECK (qty_micros > 0),
    fee_micros      bigint      NOT NULL CHECK (fee_micros >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, venue, trade_id)
);

CREATE TABLE positions (
    tenant_id  tenant_ref NOT NULL DEFAULT current_tenant(),
    venue      smallint  NOT NULL,
    market_id  text      NOT NULL,
    outcome    smallint  NOT NULL,
    qty_micros bigint    NOT NULL,
    PRIMARY KEY (tenant_id, venue, market_id, outcome)
);

CREATE TABLE credentials_meta (
    tenant_id     tenant_ref  NOT NULL DEFAULT current_tenant(),
    credential_id text        NOT NULL,
    kind          text        NOT NULL,
    key_version   integer     NOT NULL CHECK (key_version > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    rotated_at    timestamptz,
    PRIMARY KEY (tenant_id, credential_id)
);

CREATE TABLE audit (
    tenant_id tenant_ref  NOT NULL DEFAULT current_tenant(),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL,
    subject   text        NOT NULL,
    outcome   text        NOT NULL
);
CREATE INDEX audit_by_time ON audit (tenant_id, at);

-- One policy per table, the same predicate for reads (USING) and writes (WITH CHECK).
ALTER TABLE sagas ENABLE ROW LEVEL SECURITY;
ALTER TABLE sagas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sagas
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE saga_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE saga_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON saga_events
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE fills ENABLE ROW LEVEL SECURITY;
ALTER TABLE fills FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fills
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON positions
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE credentials_meta ENABLE ROW LEVEL SECURITY;
ALTER TABLE credentials_meta FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credentials_meta
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

ALTER TABLE audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

-- The app role reads and writes rows; the audit trail is append-only for it.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON sagas, saga_events, orders, fills, positions, credentials_meta TO arbiter_app;
GRANT SELECT, INSERT ON audit TO arbiter_app;
