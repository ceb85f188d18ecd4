"""Test support: a throwaway PostgreSQL server (also used by the benchmarks)."""

from .postgres import ExternalPostgres, PostgresServer, blocking, throwaway_postgres

__all__ = ["ExternalPostgres", "PostgresServer", "blocking", "throwaway_postgres"]
