"""The catalog's domain: entities, ports and use cases, free of any framework."""
