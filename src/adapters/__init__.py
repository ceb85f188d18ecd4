"""Driven adapters: implementations of the domain's ports."""
