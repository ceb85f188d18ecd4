"""The service's benchmark: `python -m bench` (or `bench/run`) from the repository root.

See bench/README.md for what is measured and how."""
