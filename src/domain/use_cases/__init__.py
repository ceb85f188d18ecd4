"""Use cases: one class per operation of the contract, each owning its transaction."""
