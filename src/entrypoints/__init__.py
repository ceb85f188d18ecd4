"""Driving adapters: the HTTP API, the command line, settings and the composition root."""
