"""The key model: format, digest, policy (endpoint groups, model patterns, limits), records."""

import base64
import hashlib
import hmac
import re

import pytest

from llm_router_api.auth.keys import (BUDGET_PERIODS, ENDPOINT_GROUPS, KEY_LENGTH, ApiKey, Digester, KeyPolicy,
                                      check_name, generate_key, key_digest, looks_like_key, new_key_id)

SECRET = "unit-test-secret-0123456789"


def test_key_format_is_the_prefix_and_43_base64url_characters_of_32_random_bytes():
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"sk-llmr-[A-Za-z0-9_-]{43}", key)
        assert len(key) == KEY_LENGTH == 51
        assert len(base64.urlsafe_b64decode(key[8:] + "=")) == 32
        assert looks_like_key(key)


@pytest.mark.parametrize("presented", [
    "", "sk-llmr-", "sk-llmr-abc", "sk-llmr-" + "A" * 42, "sk-llmr-" + "A" * 44, "sk-llmx-" + "A" * 43,
    "SK-LLMR-" + "A" * 43, "sk-llmr-" + "A" * 42 + "=", "sk-llmr-" + "A" * 42 + "/", "sk-llmr-" + "Ą" * 43,
    " sk-llmr-" + "A" * 42, "sk-llmr-" + "A" * 42 + "\n", None, 42, b"sk-llmr-" + b"A" * 43,
])
def test_what_does_not_look_like_a_key_is_recognised_without_any_store(presented):
    assert not looks_like_key(presented)


def test_the_digest_is_hmac_sha256_under_the_secret():
    key = generate_key()
    expected = hmac.new(SECRET.encode(), key.encode(), hashlib.sha256).hexdigest()
    assert key_digest(SECRET, key) == expected == Digester(SECRET)(key)
    assert key_digest("another-secret-0123456", key) != expected
    assert key not in expected and key[8:] not in expected
    assert len(expected) == 64
    # odd input never raises
    assert len(key_digest(SECRET, "\udcff")) == 64
    with pytest.raises(ValueError):
        Digester("")


def test_ids_are_12_hex_and_distinct():
    ids = {new_key_id() for _ in range(500)}
    assert len(ids) == 500 and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)


@pytest.mark.parametrize("name", ["alice", "team.search-2", "svc@prod", "a", "x" * 64, "ci:main+nightly"])
def test_valid_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", " alice", "alice bob", "-lead", "x" * 65, "tab\t", "ąę", None, 5])
def test_invalid_names(name):
    with pytest.raises(ValueError):
        check_name(name)


def test_endpoint_groups_allow_any_overlap_and_empty_means_all():
    assert ENDPOINT_GROUPS == ("chat", "embedding", "anthropic", "ollama", "builtin", "admin")
    everything = KeyPolicy()
    assert all(everything.allows_endpoint([group]) for group in ENDPOINT_GROUPS)
    chat = KeyPolicy(endpoints=("chat", "embedding"))
    assert chat.allows_endpoint(["chat"]) is True
    assert chat.allows_endpoint(["ollama", "embedding"]) is True
    assert chat.allows_endpoint(["admin"]) is False
    assert chat.allows_endpoint(["anthropic", "ollama"]) is False
    assert chat.allows_endpoint([]) is False
    assert chat.allows_endpoint(iter(["embedding"])) is True


def test_unknown_endpoint_group_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown endpoint group 'chats'; valid: chat, embedding, anthropic, "
                                         "ollama, builtin, admin"):
        KeyPolicy(endpoints=("chats",))


def test_model_names_match_exactly_or_by_fnmatch_pattern_case_sensitively():
    policy = KeyPolicy(models=("gpt-4o", "bielik-*", "llama-3.?-8b"))
    assert policy.allows_model("gpt-4o")
    assert not policy.allows_model("gpt-4o-mini")
    assert not policy.allows_model("GPT-4o")
    assert policy.allows_model("bielik-11b-v2.3")
    assert policy.allows_model("bielik-")
    assert not policy.allows_model("Bielik-11b")
    assert not policy.allows_model("my-bielik-11b")
    assert policy.allows_model("llama-3.1-8b")
    assert not policy.allows_model("llama-3.10-8b")
    assert KeyPolicy().allows_model("anything/at:all")
    # a name with pattern characters is still an exact name
    assert KeyPolicy(models=("weird[1]",)).allows_model("weird[1]")


@pytest.mark.parametrize("kwargs", [
    {"requests_per_minute": 0}, {"requests_per_minute": -5}, {"tokens_per_minute": 1.5},
    {"token_budget": True}, {"token_budget": "100"}, {"budget_period": "year"}, {"models": "bielik-*"},
    {"models": ("",)}, {"models": (" gpt",)}, {"endpoints": ("chat", 3)}, {"models": 5},
])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        KeyPolicy(**kwargs)


def test_policy_normalises_lists_and_duplicates_and_round_trips():
    policy = KeyPolicy(endpoints=["chat", "chat", "admin"], models=["a", "b*", "a"], requests_per_minute=60,
                       tokens_per_minute=10_000, token_budget=5_000_000, budget_period="week")
    assert policy.endpoints == ("chat", "admin") and policy.models == ("a", "b*")
    assert KeyPolicy.from_dict(policy.to_dict()) == policy
    assert KeyPolicy.from_dict({}) == KeyPolicy()
    assert BUDGET_PERIODS == ("day", "week", "month")
    assert hash(policy) == hash(KeyPolicy.from_dict(policy.to_dict()))


def test_api_key_usable_and_round_trip():
    key = ApiKey(id="0123456789ab", name="svc", enabled=True, created_at=100.0, expires_at=200.0,
                 policy=KeyPolicy(models=("m",)))
    assert key.usable(199.999) and not key.usable(200.0) and not key.usable(500)
    assert ApiKey.from_dict(key.id, key.to_dict()) == key
    assert "id" not in key.to_dict()
    forever = ApiKey(id="x", name="y", enabled=True, created_at=1.0, expires_at=None, policy=KeyPolicy())
    assert forever.usable(1e12)
    off = ApiKey(id="x", name="y", enabled=False, created_at=1.0, expires_at=None, policy=KeyPolicy())
    assert not off.usable(2.0)


@pytest.mark.parametrize("record", [
    {"name": "a", "enabled": "yes", "created_at": 1.0, "expires_at": None},
    {"name": "a", "enabled": True, "created_at": "now", "expires_at": None},
    {"name": "a b", "enabled": True, "created_at": 1.0, "expires_at": None},
    {"name": "a", "enabled": True, "created_at": 1.0, "expires_at": float("nan")},
    {"name": "a", "enabled": True, "created_at": 1.0, "expires_at": None, "policy": {"budget_period": "x"}},
    [],
])
def test_bad_records_are_refused(record):
    with pytest.raises(ValueError):
        ApiKey.from_dict("id1", record)


def test_policies_shared_while_reading_many_records_are_still_each_checked():
    memo = {}
    good = {"name": "a", "enabled": True, "created_at": 1.0, "expires_at": None,
            "policy": {"requests_per_minute": 1, "models": ["m"]}}
    first = ApiKey.from_dict("i1", good, memo)
    second = ApiKey.from_dict("i2", {**good, "name": "b"}, memo)
    assert first.policy is second.policy and first.policy.models == ("m",)
    for bad in ({"requests_per_minute": True, "models": ["m"]}, {"requests_per_minute": 1.0, "models": ["m"]}):
        with pytest.raises(ValueError):
            ApiKey.from_dict("i3", {**good, "policy": bad}, memo)
