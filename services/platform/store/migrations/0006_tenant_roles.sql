-- The tenant a session may see is bound to its login, not to a setting it chooses.
--
-- Until now current_tenant() read arbiter.tenant_id, which any session sets for itself with
-- set_config, so whoever held the app role's password could read every tenant. Each tenant
-- now logs in as its own role (arbiter_t_<tenant>, created by `python -m arbiter.platform.store
-- tenant add`), a member of the NOLOGIN group arbiter_app that holds the table grants, and
-- current_tenant() returns the tenant mapped to session_user in tenant_roles. session_user is
-- the role that authenticated: SET ROLE does not change it and only a superuser can SET
-- SESSION AUTHORIZATION. The mapping is readable by the owner alone; the function reads it as
-- the owner (SECURITY DEFINER). A login role without a mapping sees and writes nothing.
--
-- The vault service is shared by every tenant and already reads all of them in its
-- all-tenants scope (0003), so it keeps choosing its tenant per transaction with
-- arbiter.tenant_id: for it the setting scopes its own queries and is not a boundary
-- (docs/adr/0013-tenant-login-roles.md). No other role gains anything from the setting.
--
-- A SECURITY DEFINER function is never inlined, so the policies call it as an uncorrelated
-- sub-select: one InitPlan per statement rather than one call per row scanned
-- (tools/bench_current_tenant.py measures both).

CREATE TABLE tenant_roles (
    role_name name       PRIMARY KEY,
    tenant_id tenant_ref NOT NULL UNIQUE
);
REVOKE ALL ON tenant_roles FROM PUBLIC;

CREATE OR REPLACE FUNCTION current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
    SET search_path FROM CURRENT
    AS $$
        SELECT CASE WHEN session_user = 'arbiter_vault'
                    THEN nullif(current_setting('arbiter.tenant_id', true), '')
                    ELSE (SELECT tenant_id FROM tenant_roles WHERE role_name = session_user)
               END
    $$;
REVOKE ALL ON FUNCTION current_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION current_tenant() TO arbiter_app, arbiter_vault;

ALTER POLICY tenant_isolation ON sagas
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON saga_events
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON orders
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON fills
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON positions
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON credentials_meta
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON credential_ciphertext
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON audit
    USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));

-- The audit id's sequence (0005 hid the column) is numbered across tenants too.
REVOKE ALL ON SEQUENCE audit_id_seq FROM PUBLIC, arbiter_app;
