-- One-time provisioning, run by a superuser (or a role with CREATEROLE) in the target
-- database: the owner role that migrations run as, the app role that holds the tenant planes'
-- table grants, and the vault role only the vault service uses (it alone may read credential
-- ciphertext, see docs/vault.md). arbiter_app cannot log in: each tenant logs in as its own
-- role, a member of it (`python -m arbiter.platform.store tenant add`, docs/multi-tenancy.md).
-- Idempotent; it re-asserts the attributes that keep row-level security binding on the app
-- and vault roles. Passwords are set out of band (ALTER ROLE ... PASSWORD), never in this
-- file. Run it again before upgrading to a release that adds a role: the migrations grant to
-- roles that must already exist. PostgreSQL 16 or newer (tenant roles' grants use SET FALSE).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'arbiter_owner') THEN
        CREATE ROLE arbiter_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'arbiter_app') THEN
        CREATE ROLE arbiter_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'arbiter_vault') THEN
        CREATE ROLE arbiter_vault LOGIN;
    END IF;
    EXECUTE format('ALTER DATABASE %I OWNER TO arbiter_owner', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO arbiter_app, arbiter_vault',
                   current_database());
END $$;

ALTER ROLE arbiter_owner NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
-- A group, not a login: a release before tenant roles let it log in with a password.
ALTER ROLE arbiter_app NOLOGIN PASSWORD NULL NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    NOINHERIT;
ALTER ROLE arbiter_vault NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
-- No role may become another (SET ROLE): each keeps exactly the grants and policies it has.
REVOKE arbiter_owner FROM arbiter_app, arbiter_vault;
REVOKE arbiter_vault FROM arbiter_app;
REVOKE arbiter_app FROM arbiter_vault;
-- PostgreSQL 15+ no longer lets PUBLIC create in schema public; older servers did.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
