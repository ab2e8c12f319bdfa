-- One-time provisioning, run by a superuser (or a role with CREATEROLE) in the target
-- database: the owner role that migrations run as, and the app role the services use.
-- Idempotent; it re-asserts the attributes that keep row-level security binding on the app
-- role. Passwords are set out of band (ALTER ROLE ... PASSWORD), never in this file.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'arbiter_owner') THEN
        CREATE ROLE arbiter_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'arbiter_app') THEN
        CREATE ROLE arbiter_app LOGIN;
    END IF;
    EXECUTE format('ALTER DATABASE %I OWNER TO arbiter_owner', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO arbiter_app', current_database());
END $$;

ALTER ROLE arbiter_owner NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE arbiter_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
REVOKE arbiter_owner FROM arbiter_app;
-- PostgreSQL 15+ no longer lets PUBLIC create in schema public; older servers did.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
