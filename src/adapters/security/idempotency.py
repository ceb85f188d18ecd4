"""Idempotency keys and answers kept unreadable: SHA-256 key hashes, HMAC request hashes and
AES-256-GCM seals, each under its own key derived from the scope and the idempotency key.

Whoever reads the table learns no key, no request and no answer (which may hold a new API
key's secret) without presenting the idempotency key itself. That protection is as strong as
the key is hard to guess: clients should send random keys (a UUIDv4), as they are told."""

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Sequence
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.idempotency import SavedResponse

_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16


def _derive(purpose: bytes, scope_id: UUID, key: str) -> bytes:
    """A 256-bit key for one purpose; the scope has a fixed length, so the input is unambiguous."""
    return hashlib.sha256(b"catalog-idempotency-v1/" + purpose + b"\x00" + scope_id.bytes
                          + key.encode()).digest()


class AesGcmIdempotencyCipher:
    """Hashes and seals for the idempotency store; the sealed form is version, nonce, ciphertext."""

    def key_hash(self, scope_id: UUID, key: str) -> str:
        return _derive(b"id", scope_id, key).hex()

    def request_hash(self, scope_id: UUID, key: str, request: Sequence[bytes]) -> str:
        mac = hmac.new(_derive(b"request", scope_id, key), digestmod=hashlib.sha256)
        for part in request:
            mac.update(struct.pack(">Q", len(part)))
            mac.update(part)
        return mac.hexdigest()

    def seal(self, scope_id: UUID, key: str, response: SavedResponse) -> bytes:
        head = json.dumps({"status": response.status, "headers": response.headers},
                          separators=(",", ":")).encode()
        plaintext = struct.pack(">I", len(head)) + head + response.body
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(_derive(b"seal", scope_id, key)).encrypt(
            nonce, plaintext, _VERSION + scope_id.bytes)
        return _VERSION + nonce + sealed

    def open(self, scope_id: UUID, key: str, sealed: bytes) -> SavedResponse | None:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES:
            return None
        nonce, ciphertext = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            plaintext = AESGCM(_derive(b"seal", scope_id, key)).decrypt(
                nonce, ciphertext, _VERSION + scope_id.bytes)
        except InvalidTag:
            return None
        (length,) = struct.unpack(">I", plaintext[:4])
        head = json.loads(plaintext[4:4 + length])
        return SavedResponse(status=head["status"],
                             headers=tuple((name, value) for name, value in head["headers"]),
                             body=plaintext[4 + length:])
