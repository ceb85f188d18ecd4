"""Key hashing and the credential cache."""
