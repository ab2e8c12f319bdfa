-- The vault's credential store (arbiter.vault.postgres_repository; docs/vault.md).
--
-- credentials_meta gains what the vault records per credential; the sealed key itself goes to
-- its own table, credential_ciphertext, which only arbiter_vault may read: tenant planes (the
-- app role) keep read access to their own tenant's metadata and lose every write to it. The
-- audit trail takes the vault's events: subject is the credential id, and a rotation's
-- platform-wide events (no one tenant) have tenant_id NULL, which no tenant session matches.
--
-- The vault works in two kinds of transaction. Everything about one tenant (put, get, re-seal
-- of one row, that tenant's audit) runs in a tenant session under the same tenant_isolation
-- policy as every other table. Rotation must also see every tenant's rows; for that it sets
-- arbiter.all_tenants = 'on' for one transaction, which the policies below honour for
-- arbiter_vault only, for reading, and for writing nothing but platform-wide audit events.
-- The app role gains nothing from setting it.
--
-- The new NOT NULL columns have no default: credentials_meta was never written before this
-- migration, and if someone put rows there by hand the migration stops rather than invent a
-- public id or revision for them.

CREATE FUNCTION all_tenants_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('arbiter.all_tenants', true), '') = 'on' $$;

ALTER TABLE credentials_meta
    ADD COLUMN public_id text    NOT NULL,
    ADD COLUMN revision  integer NOT NULL CHECK (revision > 0),
    ALTER COLUMN rotated_at SET NOT NULL;
CREATE INDEX credentials_meta_by_version ON credentials_meta (key_version);

CREATE TABLE credential_ciphertext (
    tenant_id     tenant_ref NOT NULL DEFAULT current_tenant(),
    credential_id text       NOT NULL,
    ciphertext    bytea      NOT NULL,
    PRIMARY KEY (tenant_id, credential_id),
    FOREIGN KEY (tenant_id, credential_id)
        REFERENCES credentials_meta (tenant_id, credential_id) ON DELETE CASCADE
);
ALTER TABLE credential_ciphertext ENABLE ROW LEVEL SECURITY;
ALTER TABLE credential_ciphertext FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credential_ciphertext
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

-- Newest first needs an order finer than `at`, which two events may share.
ALTER TABLE audit
    ALTER COLUMN tenant_id DROP NOT NULL,
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX audit_by_id ON audit (tenant_id, id);

CREATE POLICY vault_all_tenants ON credentials_meta FOR SELECT TO arbiter_vault
    USING (all_tenants_scope());
CREATE POLICY vault_all_tenants ON credential_ciphertext FOR SELECT TO arbiter_vault
    USING (all_tenants_scope());
CREATE POLICY vault_all_tenants ON audit FOR SELECT TO arbiter_vault
    USING (all_tenants_scope());
CREATE POLICY vault_platform_events ON audit FOR INSERT TO arbiter_vault
    WITH CHECK (all_tenants_scope() AND tenant_id IS NULL);

-- Only the vault writes credentials; no role may move a row to another tenant or id.
REVOKE INSERT, UPDATE, DELETE ON credentials_meta FROM arbiter_app;
REVOKE ALL ON credential_ciphertext FROM PUBLIC;
GRANT SELECT, INSERT ON credentials_meta, credential_ciphertext TO arbiter_vault;
GRANT UPDATE (kind, public_id, key_version, revision, rotated_at) ON credentials_meta
    TO arbiter_vault;
GRANT UPDATE (ciphertext) ON credential_ciphertext TO arbiter_vault;
-- Append-only for the vault too.
GRANT SELECT, INSERT ON audit TO arbiter_vault;
