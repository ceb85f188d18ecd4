"""Routers: each operation turns HTTP into one use-case call and its answer back into HTTP."""
