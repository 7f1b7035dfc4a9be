"""Both key stores, against a real file and a real Redis (DB 9, a prefix of each test's own).

"cli" and "server" are two store instances on the same backing, as the CLI and a running
gateway are. The file store runs on a hand-moved clock (reload checks, expiry, grace); Redis
keeps rotation grace on its own clock, so those tests wait for the observable state.
"""

import json
import logging
import os
import stat
import threading
import uuid

import pytest
import redis

from llm_router_api.auth.keys import ApiKey, KeyPolicy, generate_key, key_digest
from llm_router_api.auth.store import KeyExists, KeyStore, KeyStoreError, open_key_store
from llm_router_api.auth.store_file import FileKeyStore
from llm_router_api.auth.store_redis import AuthKeySpace, RedisKeyStore, connect
from llm_router_api.settings import Settings
from tests.conftest import ManualClock, closed_port, until

SECRET = "store-test-secret-0123456789"
RELOAD = 1.0


class FileBackend:
    kind = "file"
    grace = 60.0  # on the hand-moved clock

    def __init__(self, tmp_path):
        self.path = tmp_path / "api-keys.json"
        self.clock = ManualClock()

    def store(self) -> FileKeyStore:
        return FileKeyStore(self.path, SECRET, reload_interval=RELOAD, clock=self.clock)

    def settle(self) -> None:
        """Let the server instance's next use check the file."""
        self.clock.advance(RELOAD)

    def stored_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.path.parent.iterdir() if p.is_file())

    def digests(self) -> set[str]:
        return set(json.loads(self.path.read_text())["digests"])

    def pass_grace(self, store, old_key: str, grace: float) -> None:
        self.clock.advance(grace - RELOAD - 0.001)
        assert store.lookup(old_key) is not None  # not a moment before its end
        self.clock.advance(0.002)


class RedisBackend:
    kind = "redis"
    grace = 0.4  # real seconds on Redis's clock

    def __init__(self, space):
        self.space = space
        self.clock = ManualClock()
        self.clock.now = 1.7e9
        self.clients = []

    def client(self, **kwargs) -> redis.Redis:
        client = redis.Redis(host=self.space.host, port=self.space.port, db=self.space.db, socket_timeout=5, **kwargs)
        self.clients.append(client)
        return client

    def store(self) -> RedisKeyStore:
        return RedisKeyStore(self.client(), self.space.prefix, SECRET, clock=self.clock)

    def settle(self) -> None:
        pass  # nothing cached: every lookup reads Redis

    def stored_bytes(self) -> bytes:
        client, out = self.space.client(), []
        for key in client.scan_iter(match="{" + self.space.prefix + "}*", count=1000):
            out.append(key)
            kind = client.type(key)
            if kind == b"string":
                out.append(client.get(key))
            elif kind == b"hash":
                for field, value in client.hgetall(key).items():
                    out += [field, value]
            elif kind == b"set":
                out += list(client.smembers(key))
            else:
                raise AssertionError(f"unexpected {kind} under the prefix")
        return b"\n".join(out)

    def digests(self) -> set[str]:
        prefix = AuthKeySpace(self.space.prefix).digest("")
        return {k.decode()[len(prefix):] for k in self.space.client().scan_iter(match=prefix + "*", count=1000)}

    def pass_grace(self, store, old_key: str, grace: float) -> None:
        until(lambda: store.lookup(old_key) is None, timeout=10, what="the old key's grace to end")

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture(params=["file", "redis"])
def backend(request, tmp_path):
    if request.param == "file":
        yield FileBackend(tmp_path)
        return
    b = RedisBackend(request.getfixturevalue("redis_space"))
    yield b
    b.close()


def test_a_created_key_is_found_by_its_plaintext_in_this_and_another_instance(backend):
    cli, server = backend.store(), backend.store()
    policy = KeyPolicy(models=("bielik-*",), requests_per_minute=30)
    plaintext, key = cli.create("alice", policy)
    assert plaintext.startswith("sk-llmr-") and len(plaintext) == 51
    assert (key.name, key.enabled, key.created_at, key.expires_at, key.policy) == (
        "alice", True, backend.clock.now, None, policy)
    assert len(key.id) == 12
    assert cli.lookup(plaintext) == key
    backend.settle()
    assert server.lookup(plaintext) == key
    assert server.get("alice") == key and server.list() == [key]


def test_a_key_made_by_the_cli_reaches_a_running_server_without_restart(backend):
    server = backend.store()
    assert server.list() == []
    first, _ = backend.store().create("first", KeyPolicy())
    backend.settle()
    assert server.lookup(first) is not None
    second, key = backend.store().create("second", KeyPolicy())
    if backend.kind == "file":
        assert server.lookup(second) is None  # checked at most once per reload interval
    backend.settle()
    assert server.lookup(second) == key
    assert [k.name for k in server.list()] == ["first", "second"]


def test_wrong_truncated_garbage_and_empty_keys_are_none(backend):
    store = backend.store()
    plaintext, _ = store.create("k", KeyPolicy())
    last = plaintext[-1]
    for presented in [generate_key(), plaintext[:-1], plaintext + "A", plaintext[:-1] + ("B" if last != "B" else "C"),
                      plaintext.upper(), " " + plaintext, "", "garbage", "sk-llmr-", "Bearer " + plaintext,
                      "\x00" * 51, "sk-llmr-" + "\udcff" * 43, None, 12345, b"bytes", plaintext[8:]]:
        assert store.lookup(presented) is None, presented
    assert store.lookup(plaintext) is not None


def test_a_key_made_with_another_secret_does_not_work(backend):
    store = backend.store()
    plaintext, _ = store.create("k", KeyPolicy())
    if backend.kind == "file":
        other = FileKeyStore(backend.path, "a-different-secret-0000", clock=backend.clock)
    else:
        other = RedisKeyStore(backend.client(), backend.space.prefix, "a-different-secret-0000", clock=backend.clock)
    assert other.lookup(plaintext) is None
    assert other.get("k") is not None  # the records are readable, the digests match nothing


def test_no_stored_value_contains_a_plaintext_key(backend):
    store = backend.store()
    made = [store.create(f"k{i}", KeyPolicy(models=("m",)))[0] for i in range(3)]
    rotated, _ = store.rotate("k0", 60)
    made.append(rotated)
    store.revoke("k1")
    raw = backend.stored_bytes()
    assert raw  # something was stored
    for plaintext in made:
        assert plaintext.encode() not in raw
        assert plaintext[8:].encode() not in raw
        assert plaintext[8:30].encode() not in raw
    assert b"sk-llmr-" not in raw
    # what is stored is the HMAC digest: k2's current one, k0's new and old (grace) ones; k1's is gone
    assert key_digest(SECRET, made[2]) in backend.digests()
    assert {key_digest(SECRET, made[0]), key_digest(SECRET, rotated)} <= backend.digests()
    assert key_digest(SECRET, made[1]) not in backend.digests()
    assert len(backend.digests()) == 3


def test_revoked_keys_stop_at_once_and_stay_listed(backend):
    cli, server = backend.store(), backend.store()
    plaintext, key = cli.create("bob", KeyPolicy())
    keep, _ = cli.create("carol", KeyPolicy())
    backend.settle()
    assert server.lookup(plaintext) == key
    revoked = cli.revoke("bob")
    assert revoked == ApiKey(key.id, "bob", False, key.created_at, None, key.policy)
    assert cli.lookup(plaintext) is None
    backend.settle()
    assert server.lookup(plaintext) is None
    assert server.lookup(keep) is not None
    assert server.get("bob") == revoked
    assert [(k.name, k.enabled) for k in server.list()] == [("bob", False), ("carol", True)]
    assert cli.revoke("bob") == revoked  # twice is fine
    with pytest.raises(KeyError):
        cli.revoke("nobody")
    with pytest.raises(KeyExists):
        cli.create("bob", KeyPolicy())  # a revoked key keeps its name


def test_revoking_drops_an_old_key_still_in_rotation_grace(backend):
    store = backend.store()
    old, _ = store.create("k", KeyPolicy())
    new, _ = store.rotate("k", 3600)
    assert store.lookup(old) is not None and store.lookup(new) is not None
    store.revoke("k")
    assert store.lookup(old) is None and store.lookup(new) is None
    assert backend.digests() == set()


def test_rotation_keeps_the_old_key_for_the_grace_then_never(backend):
    grace = backend.grace
    cli, server = backend.store(), backend.store()
    old, key = cli.create("svc", KeyPolicy(endpoints=("chat",)))
    new, rotated = cli.rotate("svc", grace)
    assert new != old and rotated == key  # same id, name, policy
    backend.settle()
    assert server.lookup(new) == key
    assert server.lookup(old) == key
    backend.pass_grace(server, old, grace)
    assert server.lookup(old) is None
    assert server.lookup(new) == key
    assert cli.lookup(old) is None
    # the next rotation leaves the current key in grace, and the first one stays dead
    newer, _ = cli.rotate("svc", 3600)
    backend.settle()
    assert server.lookup(newer) == key and server.lookup(new) == key and server.lookup(old) is None


def test_rotation_with_no_grace_and_of_unknown_or_revoked_keys(backend):
    store = backend.store()
    old, key = store.create("svc", KeyPolicy())
    new, _ = store.rotate("svc", 0)
    assert store.lookup(old) is None and store.lookup(new) == key
    assert len(backend.digests()) == 1
    with pytest.raises(KeyError):
        store.rotate("nobody", 10)
    store.revoke("svc")
    with pytest.raises(ValueError, match="revoked"):
        store.rotate("svc", 10)
    with pytest.raises(ValueError):
        store.rotate("svc", -1)


def test_file_a_second_rotation_does_not_extend_an_earlier_grace(tmp_path):
    # (Redis: test_redis_rotation_sets_the_old_digest_to_expire_itself)
    clock = ManualClock()
    store = FileKeyStore(tmp_path / "k.json", SECRET, clock=clock)
    first, _ = store.create("svc", KeyPolicy())
    second, _ = store.rotate("svc", 10)
    third, _ = store.rotate("svc", 100)
    clock.advance(11)
    assert store.lookup(first) is None
    assert store.lookup(second) is not None and store.lookup(third) is not None
    clock.advance(90)
    assert store.lookup(second) is None and store.lookup(third) is not None


def test_expired_keys_are_none(backend):
    cli, server = backend.store(), backend.store()
    now = backend.clock.now
    soon, key = cli.create("soon", KeyPolicy(), expires_at=now + 10)
    gone, _ = cli.create("gone", KeyPolicy(), expires_at=now - 1)
    assert key.expires_at == now + 10
    backend.settle()
    assert server.lookup(soon) == key
    assert server.lookup(gone) is None
    backend.clock.advance(10)
    assert server.lookup(soon) is None
    assert server.get("soon") == key  # still listed, usable() says why it fails
    assert not server.get("soon").usable(backend.clock.now)


def test_duplicate_and_invalid_names_and_policies(backend):
    store = backend.store()
    plaintext, key = store.create("dup", KeyPolicy())
    with pytest.raises(KeyExists, match="a key named 'dup' already exists"):
        store.create("dup", KeyPolicy(models=("x",)))
    for bad in ["", "two words", "x" * 65]:
        with pytest.raises(ValueError):
            store.create(bad, KeyPolicy())
    with pytest.raises(ValueError):
        store.create("ok", {"models": ["x"]})
    with pytest.raises(ValueError):
        store.create("ok", KeyPolicy(), expires_at="tomorrow")
    assert store.list() == [key] and store.lookup(plaintext) == key


def test_policy_round_trips_through_the_store(backend):
    cli, server = backend.store(), backend.store()
    policy = KeyPolicy(endpoints=("chat", "anthropic"), models=("gpt-4o", "bielik-*"), requests_per_minute=120,
                       tokens_per_minute=50_000, token_budget=2_000_000, budget_period="week")
    plaintext, key = cli.create("full", policy, expires_at=backend.clock.now + 3600)
    backend.settle()
    found = server.lookup(plaintext)
    assert found == key and found.policy == policy
    assert found.policy.allows_model("bielik-11b") and not found.policy.allows_model("llama")
    assert found.policy.allows_endpoint(["anthropic"]) and not found.policy.allows_endpoint(["ollama"])
    assert server.get("full").policy == policy
    assert server.get("nobody") is None


def test_create_many_writes_all_or_nothing(backend):
    store = backend.store()
    made = store.create_many([(f"bulk{i}", KeyPolicy(requests_per_minute=i + 1), None) for i in range(50)])
    assert len(made) == 50 and len({p for p, _ in made}) == 50
    assert all(store.lookup(p) == k for p, k in made)
    with pytest.raises(KeyExists):
        store.create_many([("fresh", KeyPolicy(), None), ("bulk3", KeyPolicy(), None)])
    with pytest.raises(ValueError):
        store.create_many([("twice", KeyPolicy(), None), ("twice", KeyPolicy(), None)])
    assert store.get("fresh") is None and len(store.list()) == 50


def test_threads_with_their_own_instances_never_lose_each_other_s_keys(backend):
    errors = []

    def make(worker: int) -> None:
        try:
            store = backend.store()
            for i in range(8):
                store.create(f"w{worker}-{i}", KeyPolicy())
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(k.name for k in backend.store().list()) == sorted(f"w{w}-{i}" for w in range(4) for i in range(8))


# -- the file store ------------------------------------------------------------------------------


def test_file_missing_means_no_keys_and_appears_later(tmp_path):
    clock = ManualClock()
    path = tmp_path / "keys.json"
    server = FileKeyStore(path, SECRET, clock=clock)
    assert server.list() == [] and server.lookup(generate_key()) is None
    plaintext, key = FileKeyStore(path, SECRET, clock=clock).create("late", KeyPolicy())
    clock.advance(1)
    assert server.lookup(plaintext) == key
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(str(path) + ".lock").st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json", "keys.json.lock"]  # no temp file left


def test_file_document_layout(tmp_path):
    clock = ManualClock()
    store = FileKeyStore(tmp_path / "k.json", SECRET, clock=clock)
    plaintext, key = store.create("svc", KeyPolicy(models=("m",)), expires_at=5000.0)
    new, _ = store.rotate("svc", 30)
    document = json.loads((tmp_path / "k.json").read_text())
    assert document == {
        "version": 1,
        "keys": {key.id: {"name": "svc", "enabled": True, "created_at": 1000.0, "expires_at": 5000.0,
                          "policy": {"endpoints": [], "models": ["m"], "requests_per_minute": None,
                                     "tokens_per_minute": None, "token_budget": None, "budget_period": "month"}}},
        "digests": {key_digest(SECRET, plaintext): {"id": key.id, "expires_at": 1030.0},
                    key_digest(SECRET, new): {"id": key.id, "expires_at": None}},
    }
    clock.advance(31)
    store.create("other", KeyPolicy())  # a write purges digests past their grace
    assert key_digest(SECRET, plaintext) not in json.loads((tmp_path / "k.json").read_text())["digests"]


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"version": 2, "keys": {}, "digests": {}}',
                                     b'{"version": 1, "keys": {"a": {"name": "x"}}, "digests": {}}',
                                     b'{"version": 1, "keys": [], "digests": {}}', b"\xff\xfe"])
def test_a_corrupt_file_at_start_is_an_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(KeyStoreError) as info:
        FileKeyStore(path, SECRET)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_file_that_turns_corrupt_keeps_the_last_good_keys_with_one_warning(tmp_path, caplog):
    clock = ManualClock()
    path = tmp_path / "keys.json"
    plaintext, key = FileKeyStore(path, SECRET, clock=clock).create("good", KeyPolicy())
    server = FileKeyStore(path, SECRET, clock=clock)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # e.g. a hand edit cut short
    # a handler on the module's own logger: other tests may have set up logging without propagation
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("llm_router_api.auth.store_file")
    caplog.set_level(logging.WARNING, logger=logger.name)
    logger.addHandler(handler)
    try:
        for _ in range(3):
            clock.advance(1)
            assert server.lookup(plaintext) == key
    finally:
        logger.removeHandler(handler)
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "not valid" in text and "1 key(s)" in text
    assert plaintext not in text and key_digest(SECRET, plaintext) not in text
    # writing over a corrupt file is refused, and the file stays as it is
    with pytest.raises(KeyStoreError, match="nothing was changed"):
        server.create("new", KeyPolicy())
    assert path.read_bytes() == good[: len(good) // 2]
    # a good file again is picked up
    path.write_bytes(good)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    clock.advance(1)
    assert server.lookup(plaintext) == key and server.list() == [key]


def test_a_hand_removed_key_record_makes_its_digest_match_nothing(tmp_path):
    clock = ManualClock()
    path = tmp_path / "keys.json"
    store = FileKeyStore(path, SECRET, clock=clock)
    plaintext, key = store.create("gone", KeyPolicy())
    document = json.loads(path.read_text())
    del document["keys"][key.id]
    path.write_text(json.dumps(document))
    clock.advance(1)
    assert store.lookup(plaintext) is None and store.list() == []


def test_a_hand_disabled_key_with_its_digest_still_there_matches_nothing(tmp_path):
    clock = ManualClock()
    path = tmp_path / "keys.json"
    store = FileKeyStore(path, SECRET, clock=clock)
    plaintext, key = store.create("off", KeyPolicy())
    document = json.loads(path.read_text())
    document["keys"][key.id]["enabled"] = False
    path.write_text(json.dumps(document))
    clock.advance(1)
    assert store.lookup(plaintext) is None and store.get("off").enabled is False


def test_processes_writing_at_once_lose_nothing(tmp_path):
    import subprocess
    import sys

    script = ("import sys\nfrom llm_router_api.auth.store_file import FileKeyStore\n"
              "from llm_router_api.auth.keys import KeyPolicy\n"
              "store = FileKeyStore(sys.argv[1], 'store-test-secret-0123456789')\n"
              "for i in range(10):\n    store.create(f'p{sys.argv[2]}-{i}', KeyPolicy())\n")
    path = tmp_path / "keys.json"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(n)]) for n in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    names = sorted(k.name for k in FileKeyStore(path, SECRET).list())
    assert names == sorted(f"p{n}-{i}" for n in range(3) for i in range(10))


# -- the Redis store -----------------------------------------------------------------------------


def counting_client(space):
    """A client that counts what it sends to Redis (one count per socket write = one round trip)."""

    class Counting(redis.Connection):
        writes = 0

        def send_packed_command(self, command, check_health=True):
            Counting.writes += 1
            return super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool(connection_class=Counting, host=space.host, port=space.port, db=space.db,
                                socket_timeout=5)
    return redis.Redis(connection_pool=pool), Counting


def test_redis_lookup_is_one_round_trip_and_garbage_none(redis_space):
    client, counter = counting_client(redis_space)
    store = RedisKeyStore(client, redis_space.prefix, SECRET)
    plaintext, key = store.create("one", KeyPolicy())
    store.lookup(plaintext)  # connection set up
    for presented, expected in [(plaintext, key), (generate_key(), None)]:
        counter.writes = 0
        assert store.lookup(presented) == expected
        assert counter.writes == 1
    counter.writes = 0
    assert store.lookup("not a key") is None
    assert counter.writes == 0  # rejected by its shape, before any read
    client.close()


def test_redis_layout_is_under_the_prefix(redis_space):
    store = RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET)
    plaintext, key = store.create("svc", KeyPolicy(models=("m",)))
    tag = "{" + redis_space.prefix + "}"
    digest = key_digest(SECRET, plaintext)
    assert sorted(k.decode() for k in redis_space.keys()) == sorted([
        f"{tag}:auth:names", f"{tag}:auth:key:{key.id}", f"{tag}:auth:digest:{digest}",
        f"{tag}:auth:key-digests:{key.id}"])
    client = redis_space.client()
    assert client.hgetall(f"{tag}:auth:names") == {b"svc": key.id.encode()}
    assert client.smembers(f"{tag}:auth:key-digests:{key.id}") == {digest.encode()}
    entry = json.loads(client.get(f"{tag}:auth:digest:{digest}"))
    assert entry == {"digest": digest, "id": key.id, "key": key.to_dict()}
    assert json.loads(client.get(f"{tag}:auth:key:{key.id}")) == key.to_dict()
    assert client.pttl(f"{tag}:auth:digest:{digest}") == -1


def test_redis_rotation_sets_the_old_digest_to_expire_itself(redis_space):
    store = RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET)
    old, key = store.create("svc", KeyPolicy())
    new, _ = store.rotate("svc", 100)
    client, space = redis_space.client(), AuthKeySpace(redis_space.prefix)
    ttl = client.pttl(space.digest(key_digest(SECRET, old)))
    assert 95_000 < ttl <= 100_000
    assert client.pttl(space.digest(key_digest(SECRET, new))) == -1
    newer, _ = store.rotate("svc", 1000)
    # the first old key keeps its earlier end; the second gets the new grace
    assert client.pttl(space.digest(key_digest(SECRET, old))) <= 100_000
    assert 995_000 < client.pttl(space.digest(key_digest(SECRET, new))) <= 1_000_000
    assert client.scard(space.key_digests(key.id)) == 3


def test_redis_unreachable_is_a_key_store_error_but_garbage_is_still_none(redis_space):
    client = connect("127.0.0.1", closed_port(), 0, None, 0.5)  # the client open_key_store builds
    store = RedisKeyStore(client, redis_space.prefix, SECRET)
    assert store.lookup("garbage") is None
    for call in (lambda: store.lookup(generate_key()), lambda: store.create("x", KeyPolicy()), store.list,
                 lambda: store.revoke("x"), lambda: store.rotate("x", 1), lambda: store.get("x")):
        with pytest.raises(KeyStoreError, match="Redis key store at 127.0.0.1:") as info:
            call()
        assert "\n" not in str(info.value)


def test_a_corrupt_redis_entry_authenticates_nothing(redis_space, caplog):
    store = RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET)
    plaintext = generate_key()
    client = redis_space.client()
    client.set(AuthKeySpace(redis_space.prefix).digest(key_digest(SECRET, plaintext)), b"{broken")
    assert store.lookup(plaintext) is None
    # an entry copied under another digest does not work for it either
    real, key = store.create("real", KeyPolicy())
    space = AuthKeySpace(redis_space.prefix)
    client.set(space.digest(key_digest(SECRET, plaintext)), client.get(space.digest(key_digest(SECRET, real))))
    assert store.lookup(real) == key
    assert store.lookup(plaintext) is None


# -- open_key_store ------------------------------------------------------------------------------


def test_open_key_store_follows_the_settings(tmp_path, redis_space):
    file_settings = Settings(auth_secret=SECRET, auth_keys_file=str(tmp_path / "k.json"))
    store = open_key_store(file_settings)
    assert isinstance(store, FileKeyStore) and store.describe() == f"file {tmp_path / 'k.json'}"
    plaintext, _ = store.create("a", KeyPolicy())
    redis_settings = Settings(auth_secret=SECRET, auth_key_store="redis", **redis_space.settings())
    rstore = open_key_store(redis_settings)
    assert isinstance(rstore, RedisKeyStore) and isinstance(rstore, KeyStore)
    rplain, rkey = rstore.create("a", KeyPolicy())
    assert RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET).lookup(rplain) == rkey
    assert rstore.lookup(plaintext) is None
    assert rstore.describe() == f"redis {redis_space.host}:{redis_space.port} db 9, prefix {redis_space.prefix}"
    rstore.close()
    with pytest.raises(KeyStoreError, match="LLM_ROUTER_AUTH_SECRET is not set"):
        open_key_store(Settings(auth_keys_file=str(tmp_path / "k.json")))
    with pytest.raises(KeyStoreError, match="needs LLM_ROUTER_AUTH_REDIS_HOST"):
        open_key_store(Settings(auth_secret=SECRET, auth_key_store="redis"))
    (tmp_path / "bad.json").write_text("nope")
    with pytest.raises(KeyStoreError, match="is not valid"):
        open_key_store(Settings(auth_secret=SECRET, auth_keys_file=str(tmp_path / "bad.json")))


def test_unique_prefixes_do_not_see_each_other(redis_space):
    other_prefix = f"{redis_space.prefix}-{uuid.uuid4().hex[:6]}"
    a = RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET)
    b = RedisKeyStore(redis_space.client(), other_prefix, SECRET)
    plaintext, _ = a.create("same", KeyPolicy())
    try:
        assert b.lookup(plaintext) is None and b.list() == []
        b.create("same", KeyPolicy())
    finally:
        client = redis_space.client()
        keys = list(client.scan_iter(match="{" + other_prefix + "}*"))
        if keys:
            client.delete(*keys)
