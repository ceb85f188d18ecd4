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

T1, T2 = TenantId(new_id()), TenantId(new_id())
K1, K2 = new_id(), new_id()
P1 = Principal(T1, K1, ("read",))
P2 = Principal(T2, K2, ("read", "write"), rate_limit=RateLimit(5.0, 10))


def test_cache_returns_an_entry_until_its_ttl_has_passed(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    assert cache.get("tok") is None
    cache.put("tok", P1, cache.epoch())
    assert cache.get("tok") == P1
    monotonic.value += 29.999
    assert cache.get("tok") == P1
    monotonic.value += 0.001
    assert cache.get("tok") is None
    monotonic.value -= 10  # an expired entry is gone, not merely hidden
    assert cache.get("tok") is None


def test_put_again_refreshes_the_lifetime(monotonic) -> None:
    cache = TtlCredentialCache(ttl=10, clock=monotonic)
    cache.put("tok", P1, cache.epoch())
    monotonic.value += 8
    cache.put("tok", P1, cache.epoch())
    monotonic.value += 8
    assert cache.get("tok") == P1


def test_forget_drops_every_token_of_a_key_and_only_those(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", P1, cache.epoch())
    cache.put("b", P1, cache.epoch())
    cache.put("c", P2, cache.epoch())
    cache.forget(K1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, P2)
    cache.forget(new_id())
    assert cache.get("c") == P2


def test_forget_tenant_drops_every_key_of_that_tenant_and_only_those(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", P1, cache.epoch())
    cache.put("b", Principal(T1, new_id(), ("read",)), cache.epoch())
    cache.put("c", P2, cache.epoch())
    cache.forget_tenant(T1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, P2)
    assert P2.rate_limit == RateLimit(5.0, 10)


def test_clear(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, clock=monotonic)
    cache.put("a", P1, cache.epoch())
    cache.put("c", P2, cache.epoch())
    cache.clear()
    assert (cache.get("a"), cache.get("c")) == (None, None)


def test_zero_ttl_caches_nothing(monotonic) -> None:
    cache = TtlCredentialCache(ttl=0, clock=monotonic)
    cache.put("a", P1, cache.epoch())
    assert cache.get("a") is None


def test_size_bound_evicts_the_oldest(monotonic) -> None:
    cache = TtlCredentialCache(ttl=30, max_entries=2, clock=monotonic)
    cache.put("a", P1, cache.epoch())
    cache.put("b", P2, cache.epoch())
    cache.put("a", P1, cache.epoch())  # refreshed: now the newest
    cache.put("c", P2, cache.epoch())
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (P1, None, P2)


def test_cache_defaults_to_the_monotonic_clock() -> None:
    cache = TtlCredentialCache(ttl=0.05)
    put_at = time.monotonic()
    cache.put("a", P1, cache.epoch())
    deadline = put_at + 5
    while cache.get("a") is not None:  # waits on the entry, not on a guess of the scheduler
        assert time.monotonic() < deadline, "the entry never expired"
        time.sleep(0.005)
    assert time.monotonic() - put_at >= 0.05  # and not before its time


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
