"""Rate limiters (in-process and Redis-shared) and the per-tenant concurrency cap."""
