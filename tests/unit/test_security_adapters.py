"""The credential cache, the key hasher and the system clock."""

import string
import time
from datetime import UTC, datetime, timedelta

from adapters.clock import SystemClock
from adapters.security.cache import TtlCredentialCache
from adapters.security.hashing import Sha256KeyHasher
from domain.ids import new_id
from domain.model import Principal, RateLimit
from domain.tenancy import TenantId

T1, T2 = Principal(TenantId(new_id())), Principal(TenantId(new_id()), RateLimit(5.0, 10))
K1, K2 = new_id(), new_id()


def test_cache_returns_an_entry_until_its_ttl_has_passed(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    assert cache.get("tok") is None
    cache.put("tok", K1, T1)
    assert cache.get("tok") == T1
    monotonic.value += 29.999
    assert cache.get("tok") == T1
    monotonic.value += 0.001
    assert cache.get("tok") is None
    monotonic.value -= 10  # an expired entry is gone, not merely hidden
    assert cache.get("tok") is None


def test_put_again_refreshes_the_lifetime(monotonic) -> None:
    cache = TtlCredentialCache(ttl=10, clock=monotonic)
    cache.put("tok", K1, T1)
    monotonic.value += 8
    cache.put("tok", K1, T1)
    monotonic.value += 8
    assert cache.get("tok") == T1


def test_forget_drops_every_token_of_a_key_and_only_those(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", K1, T1)
    cache.put("b", K1, T1)
    cache.put("c", K2, T2)
    cache.forget(K1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, T2)
    cache.forget(new_id())
    assert cache.get("c") == T2


def test_forget_tenant_drops_every_key_of_that_tenant_and_only_those(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", K1, T1)
    cache.put("b", new_id(), T1)
    cache.put("c", K2, T2)
    cache.forget_tenant(T1.tenant_id)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, T2)


def test_clear(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", K1, T1)
    cache.put("c", K2, T2)
    cache.clear()
    assert (cache.get("a"), cache.get("c")) == (None, None)


def test_zero_ttl_caches_nothing(monotonic) -> None:
    cache = TtlCredentialCache(ttl=0, clock=monotonic)
    cache.put("a", K1, T1)
    assert cache.get("a") is None


def test_size_bound_evicts_the_oldest(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, max_entries=2, clock=monotonic)
    cache.put("a", K1, T1)
    cache.put("b", K2, T2)
    cache.put("a", K1, T1)  # refreshed: now the newest
    cache.put("c", K2, T2)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (T1, None, T2)


def test_cache_defaults_to_the_monotonic_clock() -> None:
    cache = TtlCredentialCache(ttl=0.05)
    cache.put("a", K1, T1)
    assert cache.get("a") == T1
    time.sleep(0.06)
    assert cache.get("a") is None


def test_hasher_makes_long_random_url_safe_secrets() -> None:
    hasher = Sha256KeyHasher()
    secrets = {hasher.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) >= 43
        assert set(secret) <= set(string.ascii_letters + string.digits + "-_")


def test_hasher_hash_and_verify() -> None:
    hasher = Sha256KeyHasher()
    digest = hasher.hash("secret")
    assert digest == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    assert len(digest) == 64  # fits api_keys.secret_hash
    assert hasher.verify("secret", digest)
    assert not hasher.verify("secreT", digest)
    assert not hasher.verify("", digest)
    assert not hasher.verify("secret", digest.upper())


def test_system_clock_is_aware_utc_now() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= after
