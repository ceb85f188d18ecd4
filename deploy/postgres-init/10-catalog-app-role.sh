#!/bin/bash
# Run once by the postgres image's entrypoint, when it initialises an empty data directory
# (docker-entrypoint-initdb.d), as POSTGRES_USER, the owner of database POSTGRES_DB.
#
# Creates the role the service's replicas log in as (through PgBouncer): it owns nothing, is
# no superuser and cannot bypass row-level security. Its rights on tables are granted by the
# migrations themselves (`catalog db upgrade`, run afterwards as the owner: revision 0002
# grants exactly what the service needs to an existing catalog_app), so it must exist first.
#
# The password comes from CATALOG_APP_PASSWORD (deploy/.env); it is passed to psql as a
# variable and quoted by psql, never spliced into SQL text by the shell.
set -e

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=db="$POSTGRES_DB" \
    --set=app_password="${CATALOG_APP_PASSWORD:?CATALOG_APP_PASSWORD must be set}" <<'SQL'
CREATE ROLE catalog_app
    LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT
    PASSWORD :'app_password';

-- Server-side limits for every session of the app role, whatever the client sends
-- (startup parameters do not pass through PgBouncer).
ALTER ROLE catalog_app SET statement_timeout = '15s';
ALTER ROLE catalog_app SET idle_in_transaction_session_timeout = '60s';

REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO catalog_app;
SQL
