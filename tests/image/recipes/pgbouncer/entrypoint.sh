#!/bin/bash
# pgbouncer.ini and userlist.txt from the environment, as edoburu/pgbouncer writes them.
set -euo pipefail
umask 077
printf '"%s" "%s"\n' "${DB_USER:?}" "${DB_PASSWORD:?}" > /etc/pgbouncer/userlist.txt
{
    echo "[databases]"
    echo "${DB_NAME:-*} = host=${DB_HOST:?} port=${DB_PORT:-5432}"
    echo "[pgbouncer]"
    echo "listen_addr = ${LISTEN_ADDR:-0.0.0.0}"
    echo "listen_port = ${LISTEN_PORT:-5432}"
    echo "unix_socket_dir ="
    echo "auth_type = ${AUTH_TYPE:-md5}"
    echo "auth_file = /etc/pgbouncer/userlist.txt"
    echo "pool_mode = ${POOL_MODE:-session}"
    echo "max_client_conn = ${MAX_CLIENT_CONN:-100}"
    echo "default_pool_size = ${DEFAULT_POOL_SIZE:-20}"
    echo "min_pool_size = ${MIN_POOL_SIZE:-0}"
    echo "reserve_pool_size = ${RESERVE_POOL_SIZE:-0}"
    echo "reserve_pool_timeout = ${RESERVE_POOL_TIMEOUT:-5}"
    echo "max_db_connections = ${MAX_DB_CONNECTIONS:-0}"
    echo "query_wait_timeout = ${QUERY_WAIT_TIMEOUT:-120}"
    echo "ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-}"
    # max_prepared_statements (MAX_PREPARED_STATEMENTS) needs PgBouncer 1.21; Debian 12 has
    # 1.18, which would refuse the setting, so the stand-in leaves it out.
} > /etc/pgbouncer/pgbouncer.ini
exec "$@"
