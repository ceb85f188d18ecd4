"""API key secrets: 256 random bits, stored as a SHA-256 digest.

A slow password hash buys nothing for secrets of this entropy and would cost every request
that misses the cache; a digest compared in constant time is the standard for API keys."""

import hashlib
import hmac
import secrets


class Sha256KeyHasher:
    """New secrets from the OS's CSPRNG; hashes are hex SHA-256 digests."""

    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def hash(self, secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, secret: str, secret_hash: str) -> bool:
        return hmac.compare_digest(self.hash(secret), secret_hash)
