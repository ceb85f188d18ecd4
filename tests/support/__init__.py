"""Test support: a throwaway PostgreSQL server and fresh databases (also for benchmarks)."""

from .databases import new_pg_database, new_sqlite_database
from .postgres import ExternalPostgres, PostgresServer, blocking, throwaway_postgres

__all__ = ["ExternalPostgres", "PostgresServer", "blocking", "new_pg_database",
           "new_sqlite_database", "throwaway_postgres"]
