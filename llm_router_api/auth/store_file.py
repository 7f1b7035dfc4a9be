"""API keys in a JSON file (``LLM_ROUTER_AUTH_KEYS_FILE``), shared by the CLI and running gateways.

The file::

    {"version": 1,
     "keys":    {"<id>": {"name": ..., "enabled": true, "created_at": <unix>, "expires_at": null | <unix>,
                          "policy": {...}}},
     "digests": {"<hex HMAC-SHA256 of a key>": {"id": "<id>", "expires_at": null | <unix>}}}

No plaintext key is ever written. A key has one digest, plus, for a while after ``rotate``, the
old one with an ``expires_at`` (the end of its grace).

Writers (the CLI, or an admin call) take an exclusive ``flock`` on ``<file>.lock``, read the file
afresh, change it and replace it atomically (temporary file in the same directory, fsync,
``os.replace``, mode 0600): two CLI runs at once never lose each other's change, and a reader
sees the old file or the new one, never half of one.

Readers (the gateway's workers) keep the parsed file in memory and look a key up with one dict
read. Every ``reload_interval`` seconds at most, on use (no thread), they ``stat`` the file and
re-read it when its mtime, size or inode changed. A missing file means no keys. A file that does
not parse is an error when the store opens; later, the keys read before keep working and one
warning is logged until a good file appears.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import logging
import math
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, NamedTuple, TypeVar

from .keys import ApiKey, Digester, KeyPolicy, generate_key, looks_like_key, new_key_id
from .store import KeyExists, KeyStore, KeyStoreError, check_grace, check_new

log = logging.getLogger(__name__)

VERSION = 1
_FILE_MODE = 0o600
T = TypeVar("T")
Signature = tuple[int, int, int]


class _Digest(NamedTuple):
    digest: str
    id: str
    expires_at: float | None  # the end of a rotation grace
    key: ApiKey  # the record itself: a lookup is one dict read
    usable_until: float  # the earlier of expires_at and the key's expiry; -inf for a disabled key


def _entry(digest: str, key: ApiKey, expires_at: float | None) -> _Digest:
    ends = [t for t in (expires_at, key.expires_at) if t is not None]
    until = -math.inf if not key.enabled else min(ends, default=math.inf)
    return _Digest(digest, key.id, expires_at, key, until)


@dataclass
class _State:
    """The file's content, parsed. An installed one is never changed: writers build a new one."""

    keys: dict[str, ApiKey]
    names: dict[str, str]
    digests: dict[str, _Digest]

    @classmethod
    def empty(cls) -> "_State":
        return cls({}, {}, {})

    @classmethod
    def parse(cls, document: Any) -> "_State":
        """The state in a decoded file; ValueError (with no key material in it) if it is not valid."""
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        if document.get("version") != VERSION:
            raise ValueError(f"unsupported version (this gateway reads version {VERSION})")
        keys_in, digests_in = document.get("keys", {}), document.get("digests", {})
        if not isinstance(keys_in, dict) or not isinstance(digests_in, dict):
            raise ValueError("'keys' and 'digests' must be objects")
        state = cls.empty()
        policies: dict = {}
        for key_id, record in keys_in.items():
            try:
                key = ApiKey.from_dict(key_id, record, policies)
            except ValueError as exc:
                raise ValueError(f"key {key_id!r}: {exc}") from None
            if key.name in state.names:
                raise ValueError(f"two keys are named {key.name!r}")
            state.keys[key_id] = key
            state.names[key.name] = key_id
        for digest, entry in digests_in.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ValueError("a digest entry is not an object with an 'id'")
            expires_at = entry.get("expires_at")
            if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))):
                raise ValueError("a digest entry's 'expires_at' is not a unix time")
            key = state.keys.get(entry["id"])
            if key is not None:  # a digest of a key no longer there authenticates nothing
                state.digests[digest] = _entry(digest, key, None if expires_at is None else float(expires_at))
        return state

    def document(self) -> dict[str, Any]:
        return {"version": VERSION,
                "keys": {key_id: key.to_dict() for key_id, key in self.keys.items()},
                "digests": {d.digest: {"id": d.id, "expires_at": d.expires_at} for d in self.digests.values()}}

    def copy(self) -> "_State":
        return _State(dict(self.keys), dict(self.names), dict(self.digests))

    def by_name(self, name: str) -> ApiKey:
        key_id = self.names.get(name)
        if key_id is None:
            raise KeyError(name)
        return self.keys[key_id]

    def purge(self, now: float) -> None:
        """Drop old digests whose grace is over (they match nothing any more anyway)."""
        for digest in [d.digest for d in self.digests.values() if d.expires_at is not None and d.expires_at <= now]:
            del self.digests[digest]


def _signature(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileKeyStore(KeyStore):
    kind = "file"

    def __init__(self, path: str | os.PathLike, secret: str, *, reload_interval: float = 1.0,
                 clock: Callable[[], float] = time.time):
        """``clock`` is unix time: it stamps keys, decides expiry and paces the reload checks
        (``reload_interval`` seconds apart; 0 checks on every use)."""
        self.path = os.fspath(path)
        self.lock_path = self.path + ".lock"
        self._digester = Digester(secret)
        self._interval = reload_interval
        self._clock = clock
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()  # threads of this process; flock orders processes
        self._last_problem: str | None = None
        self._bad_signature: Signature | None = None
        state, self._signature = self._read()  # KeyStoreError if the file is there but not valid
        self._state = state
        self._last_check = clock()

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> tuple[_State, Signature | None]:
        """The file's state and the signature of exactly what was read; KeyStoreError if unusable."""
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                raw = handle.read()
        except FileNotFoundError:
            return _State.empty(), None
        except OSError as exc:
            raise KeyStoreError(f"keys file {self.path} is not readable: {exc.strerror or exc}") from None
        try:
            state = _State.parse(json.loads(raw))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise KeyStoreError(f"keys file {self.path} is not valid: {_one_line(exc)}") from None
        return state, (st.st_mtime_ns, st.st_size, st.st_ino)

    def _current(self) -> tuple[_State, float]:
        now = self._clock()
        if now - self._last_check >= self._interval or now < self._last_check:
            self._maybe_reload(now)
        return self._state, now

    def _maybe_reload(self, now: float) -> None:
        if not self._reload_lock.acquire(blocking=False):
            return  # another thread is checking; this one uses the keys it has
        try:
            self._last_check = now
            current = _signature(self.path)
            if current == self._signature or (current is not None and current == self._bad_signature):
                return
            try:
                state, signature = self._read()
            except KeyStoreError as exc:
                message = str(exc)
                if message != self._last_problem:
                    log.warning("%s; still using the %d key(s) read before", message, len(self._state.keys))
                    self._last_problem = message
                self._bad_signature = current  # read again only once it changes
                return
            self._state, self._signature, self._last_problem = state, signature, None
            log.info("API keys reloaded from %s: %d key(s)", self.path, len(state.keys))
        finally:
            self._reload_lock.release()

    def lookup(self, presented: str) -> ApiKey | None:
        if not looks_like_key(presented):
            return None
        digest = self._digester(presented)
        state, now = self._current()
        entry = state.digests.get(digest)
        if entry is None or not hmac.compare_digest(entry.digest, digest) or now >= entry.usable_until:
            return None  # unknown, past its rotation grace, expired, or disabled
        return entry.key

    def list(self) -> list[ApiKey]:
        state, _ = self._current()
        return sorted(state.keys.values(), key=lambda k: (k.created_at, k.name))

    def get(self, name: str) -> ApiKey | None:
        state, _ = self._current()
        key_id = state.names.get(name)
        return None if key_id is None else state.keys[key_id]

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._write_lock:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
            except OSError as exc:
                raise KeyStoreError(f"cannot open lock file {self.lock_path}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def _mutate(self, change: Callable[[_State, float], T]) -> T:
        """Read the file afresh under the lock, apply ``change`` to a copy, write it back atomically."""
        with self._exclusive(), self._reload_lock:  # no reload installs an older read over this write
            try:
                current, _ = self._read()
            except KeyStoreError as exc:
                raise KeyStoreError(f"{exc}; fix or remove it (nothing was changed)") from None
            state = current.copy()
            now = self._clock()
            result = change(state, now)
            state.purge(now)
            signature = self._write(state)
            self._state, self._signature, self._last_problem = state, signature, None
            self._last_check = now
            return result

    def _write(self, state: _State) -> Signature | None:
        directory = os.path.dirname(os.path.abspath(self.path))
        data = json.dumps(state.document(), separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise KeyStoreError(f"cannot write keys file {self.path}: {exc.strerror or exc}") from None
        try:
            try:
                os.fchmod(fd, _FILE_MODE)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise KeyStoreError(f"cannot write keys file {self.path}: {exc.strerror or exc}") from None
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass  # the rename is done; some filesystems cannot fsync a directory
        return _signature(self.path)

    def _add(self, state: _State, now: float, name: str, policy: KeyPolicy,
             expires_at: float | None) -> tuple[str, ApiKey]:
        if name in state.names:
            raise KeyExists(f"a key named {name!r} already exists")
        key_id = new_key_id()
        while key_id in state.keys:
            key_id = new_key_id()
        key = ApiKey(id=key_id, name=name, enabled=True, created_at=now,
                     expires_at=None if expires_at is None else float(expires_at), policy=policy)
        plaintext = generate_key()
        digest = self._digester(plaintext)
        state.keys[key_id] = key
        state.names[name] = key_id
        state.digests[digest] = _entry(digest, key, None)
        return plaintext, key

    def create(self, name: str, policy: KeyPolicy, expires_at: float | None = None) -> tuple[str, ApiKey]:
        check_new(name, policy, expires_at)
        return self._mutate(lambda state, now: self._add(state, now, name, policy, expires_at))

    def create_many(self, items: Iterable[tuple[str, KeyPolicy, float | None]]) -> list[tuple[str, ApiKey]]:
        """Many keys in one locked write: all of them, or none if any is invalid."""
        items = list(items)
        for name, policy, expires_at in items:
            check_new(name, policy, expires_at)
        return self._mutate(lambda state, now: [self._add(state, now, *item) for item in items])

    def revoke(self, name: str) -> ApiKey:
        def change(state: _State, now: float) -> ApiKey:
            key = replace(state.by_name(name), enabled=False)
            state.keys[key.id] = key
            for digest in [d.digest for d in state.digests.values() if d.id == key.id]:
                del state.digests[digest]
            return key

        return self._mutate(change)

    def rotate(self, name: str, grace_seconds: float) -> tuple[str, ApiKey]:
        grace = check_grace(grace_seconds)

        def change(state: _State, now: float) -> tuple[str, ApiKey]:
            key = state.by_name(name)
            if not key.enabled:
                raise ValueError(f"key {name!r} is revoked; create a new one")
            until = now + grace
            for d in [d for d in state.digests.values() if d.id == key.id]:
                if grace == 0:
                    del state.digests[d.digest]
                elif d.expires_at is None or d.expires_at > until:
                    state.digests[d.digest] = _entry(d.digest, d.key, until)
            plaintext = generate_key()
            digest = self._digester(plaintext)
            state.digests[digest] = _entry(digest, key, None)
            return plaintext, key

        return self._mutate(change)

    def describe(self) -> str:
        return f"file {os.path.abspath(self.path)}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__
