"""The HTTP API: app factory, routers, schemas, problem+json errors and authentication."""
