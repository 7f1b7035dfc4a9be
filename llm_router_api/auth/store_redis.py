"""API keys in Redis, shared by every replica and the CLI.

Keys, all in one hash tag ``{prefix}`` (as ``balancing/redis_slots.py``), so a Redis Cluster keeps
them on one node::

    {prefix}:auth:digest:<hex digest>   string  {"digest": <hex>, "id": <id>, "key": <key record>}
    {prefix}:auth:key:<id>              string  <key record>: name, enabled, created_at, expires_at, policy
    {prefix}:auth:names                 hash    name -> id
    {prefix}:auth:key-digests:<id>      set     the digests of the key (one, plus old ones in rotation grace)

A lookup is one ``GET`` of the digest key: the value carries a copy of the key's record, which
never changes while the digest exists (revoking deletes the digests; nothing else edits a
record). Admin changes are ``WATCH``/``MULTI`` transactions, so a revocation drops every digest
of a key at once. Rotation gives the old digest a ``PEXPIREAT`` at Redis's own time + grace, so
Redis forgets it by itself, on time, even if no one ever writes again. Nothing here deletes keys
outside this layout, and nothing flushes.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import redis

from ..balancing.redis_slots import connect
from .keys import ApiKey, Digester, KeyPolicy, generate_key, looks_like_key, new_key_id
from .store import KeyExists, KeyStore, KeyStoreError, check_grace, check_new

__all__ = ["RedisKeyStore", "AuthKeySpace", "connect"]

log = logging.getLogger(__name__)

_POLICY_MEMO_SIZE = 1024  # distinct policies kept parsed (keys share a handful)


@dataclass(frozen=True)
class AuthKeySpace:
    prefix: str

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def digest(self, digest: str) -> str:
        return f"{self.tag}:auth:digest:{digest}"

    def record(self, key_id: str) -> str:
        return f"{self.tag}:auth:key:{key_id}"

    @property
    def names(self) -> str:
        return f"{self.tag}:auth:names"

    def key_digests(self, key_id: str) -> str:
        return f"{self.tag}:auth:key-digests:{key_id}"

    @property
    def pattern(self) -> str:
        """Every key of the layout (for SCAN in tests and tools)."""
        return f"{self.tag}:auth:*"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisKeyStore(KeyStore):
    kind = "redis"

    def __init__(self, client: redis.Redis, prefix: str, secret: str, *, clock: Callable[[], float] = time.time):
        """``clock`` (unix time) stamps new keys and decides key expiry; rotation grace runs on Redis's clock."""
        self.client = client
        self.space = AuthKeySpace(prefix)
        self._digester = Digester(secret)
        self._clock = clock
        self._policies: dict[tuple, KeyPolicy] = {}  # stored policy -> parsed, as keys share a few
        self._warned = False

    # -- the request path ----------------------------------------------------------------------

    def lookup(self, presented: str) -> ApiKey | None:
        if not looks_like_key(presented):
            return None
        digest = self._digester(presented)
        try:
            raw = self.client.get(self.space.digest(digest))  # the one round trip
        except redis.RedisError as exc:
            raise self._error(exc) from None
        if raw is None:
            return None
        parsed = self._parse_entry(raw)
        if parsed is None:
            return None
        stored, key = parsed
        if not hmac.compare_digest(stored, digest):
            return None
        return key if key.usable(self._clock()) else None

    def _parse_entry(self, raw: bytes) -> tuple[str, ApiKey] | None:
        try:
            entry = json.loads(raw)
            stored = entry["digest"]
            if not isinstance(stored, str):
                raise ValueError("digest")
            if len(self._policies) >= _POLICY_MEMO_SIZE:
                self._policies.clear()
            return stored, ApiKey.from_dict(entry["id"], entry["key"], self._policies)
        except (ValueError, KeyError, TypeError):
            if not self._warned:
                log.warning("an API key entry under %s is not valid; it authenticates nothing", self.space.tag)
                self._warned = True
            return None

    # -- reading for admins --------------------------------------------------------------------

    def _record(self, key_id: str, raw: bytes | None) -> ApiKey | None:
        if raw is None:
            return None
        try:
            return ApiKey.from_dict(key_id, json.loads(raw))
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"the record of key id {key_id} in Redis is not valid: {exc}") from None

    def list(self) -> list[ApiKey]:
        try:
            ids = [_text(v) for v in self.client.hvals(self.space.names)]
            raws = self.client.mget([self.space.record(i) for i in ids]) if ids else []
        except redis.RedisError as exc:
            raise self._error(exc) from None
        keys = [k for k in (self._record(i, raw) for i, raw in zip(ids, raws)) if k is not None]
        return sorted(keys, key=lambda k: (k.created_at, k.name))

    def get(self, name: str) -> ApiKey | None:
        try:
            key_id = self.client.hget(self.space.names, name)
            if key_id is None:
                return None
            key_id = _text(key_id)
            return self._record(key_id, self.client.get(self.space.record(key_id)))
        except redis.RedisError as exc:
            raise self._error(exc) from None

    # -- changes -------------------------------------------------------------------------------

    def _transaction(self, func: Callable[[Any], Any], *watches: str) -> Any:
        try:
            return self.client.transaction(func, *watches, value_from_callable=True)
        except redis.RedisError as exc:
            raise self._error(exc) from None

    def _entry(self, digest: str, key: ApiKey) -> str:
        return json.dumps({"digest": digest, "id": key.id, "key": key.to_dict()}, separators=(",", ":"))

    def create(self, name: str, policy: KeyPolicy, expires_at: float | None = None) -> tuple[str, ApiKey]:
        return self.create_many([(name, policy, expires_at)])[0]

    def create_many(self, items: Iterable[tuple[str, KeyPolicy, float | None]]) -> list[tuple[str, ApiKey]]:
        """Many keys in one transaction: all of them, or none if any name is taken or invalid."""
        items = list(items)
        names = [name for name, _, _ in items]
        for name, policy, expires_at in items:
            check_new(name, policy, expires_at)
        if len(set(names)) != len(names):
            raise ValueError("the same name twice in one batch")
        if not items:
            return []
        now = self._clock()
        made = []
        for name, policy, expires_at in items:
            key = ApiKey(id=new_key_id(), name=name, enabled=True, created_at=now,
                         expires_at=None if expires_at is None else float(expires_at), policy=policy)
            plaintext = generate_key()
            made.append((plaintext, key, self._digester(plaintext)))

        def write(pipe) -> list[tuple[str, ApiKey]]:
            taken = [n for n, v in zip(names, pipe.hmget(self.space.names, names)) if v is not None]
            if taken:
                raise KeyExists(f"a key named {taken[0]!r} already exists")
            if pipe.exists(*[self.space.record(key.id) for _, key, _ in made]):  # 48-bit ids: all but never
                raise ValueError("key id clash; try again")
            pipe.multi()
            pipe.hset(self.space.names, mapping={key.name: key.id for _, key, _ in made})
            for _, key, digest in made:
                pipe.set(self.space.record(key.id), json.dumps(key.to_dict(), separators=(",", ":")))
                pipe.set(self.space.digest(digest), self._entry(digest, key))
                pipe.sadd(self.space.key_digests(key.id), digest)
            return [(plaintext, key) for plaintext, key, _ in made]

        return self._transaction(write, self.space.names)  # every create writes names: concurrent ones retry

    def _id_of(self, name: str) -> str:
        try:
            key_id = self.client.hget(self.space.names, name)
        except redis.RedisError as exc:
            raise self._error(exc) from None
        if key_id is None:
            raise KeyError(name)
        return _text(key_id)

    def revoke(self, name: str) -> ApiKey:
        key_id = self._id_of(name)
        record, digests = self.space.record(key_id), self.space.key_digests(key_id)

        def write(pipe) -> ApiKey:
            key = self._record(key_id, pipe.get(record))
            if key is None:
                raise KeyError(name)
            members = [_text(m) for m in pipe.smembers(digests)]
            revoked = replace(key, enabled=False)
            pipe.multi()
            pipe.set(record, json.dumps(revoked.to_dict(), separators=(",", ":")))
            pipe.delete(digests, *[self.space.digest(m) for m in members])
            return revoked

        return self._transaction(write, record, digests)

    def rotate(self, name: str, grace_seconds: float) -> tuple[str, ApiKey]:
        grace_ms = int(round(check_grace(grace_seconds) * 1000))
        key_id = self._id_of(name)
        record, digests = self.space.record(key_id), self.space.key_digests(key_id)

        def write(pipe) -> tuple[str, ApiKey]:
            key = self._record(key_id, pipe.get(record))
            if key is None:
                raise KeyError(name)
            if not key.enabled:
                raise ValueError(f"key {name!r} is revoked; create a new one")
            members = [_text(m) for m in pipe.smembers(digests)]
            seconds, micros = pipe.time()
            until_ms = seconds * 1000 + micros // 1000 + grace_ms  # Redis's clock: every replica agrees
            ttls = [pipe.pttl(self.space.digest(m)) for m in members]
            plaintext = generate_key()
            digest = self._digester(plaintext)
            pipe.multi()
            pipe.set(self.space.digest(digest), self._entry(digest, key))
            pipe.sadd(digests, digest)
            for member, ttl in zip(members, ttls):
                old = self.space.digest(member)
                if ttl == -2 or grace_ms == 0:  # gone already, or no grace: drop it now
                    pipe.delete(old)
                    pipe.srem(digests, member)
                elif ttl == -1 or ttl > grace_ms:  # keep an earlier end from an earlier rotation
                    pipe.pexpireat(old, until_ms)
            return plaintext, key

        return self._transaction(write, record, digests)

    # -- misc ----------------------------------------------------------------------------------

    def _address(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return str(kwargs["path"])
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    def _error(self, exc: redis.RedisError) -> KeyStoreError:
        detail = " ".join(str(exc).split()) or exc.__class__.__name__
        return KeyStoreError(f"Redis key store at {self._address()} failed ({exc.__class__.__name__}): {detail}")

    def describe(self) -> str:
        db = self.client.connection_pool.connection_kwargs.get("db", 0)
        return f"redis {self._address()} db {db}, prefix {self.space.prefix}"

    def close(self) -> None:
        self.client.close()
