"""``llm-router keys create|list|revoke|rotate`` through argparse, as llm_router_api/cli.py wires it."""

import argparse
import json
import os
import subprocess
import sys

import pytest

from llm_router_api.auth.cli import add_keys_commands
from llm_router_api.auth.keys import KeyPolicy, key_digest, looks_like_key
from llm_router_api.auth.store_file import FileKeyStore
from llm_router_api.auth.store_redis import RedisKeyStore
from tests.conftest import REPO_ROOT

SECRET = "cli-test-secret-0123456789"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean LLM_ROUTER_* environment with a secret and a keys file in tmp_path."""
    for name in list(os.environ):
        if name.startswith("LLM_ROUTER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_ROUTER_AUTH_SECRET", SECRET)
    monkeypatch.setenv("LLM_ROUTER_AUTH_KEYS_FILE", str(tmp_path / "keys.json"))
    return monkeypatch


def run(argv, on_event=None) -> int:
    parser = argparse.ArgumentParser(prog="llm-router")
    add_keys_commands(parser.add_subparsers(dest="command", required=True), on_event=on_event)
    args = parser.parse_args(argv)
    return args.handler(args)


def file_store(tmp_path) -> FileKeyStore:
    return FileKeyStore(tmp_path / "keys.json", SECRET)


def created_key(capsys, argv, **kwargs) -> str:
    assert run(argv, **kwargs) == 0
    out = capsys.readouterr().out
    key = out.splitlines()[-1]
    assert looks_like_key(key)
    assert out.count(key) == 1 and out.count("sk-llmr-") == 1
    return key


def test_create_prints_the_key_alone_on_the_last_line_and_it_works(env, tmp_path, capsys):
    events = []
    key = created_key(capsys, ["keys", "create", "--name", "alice"], on_event=lambda *e: events.append(e))
    found = file_store(tmp_path).lookup(key)
    assert found is not None and found.name == "alice" and found.policy == KeyPolicy()
    assert events == [("created", {"name": "alice", "id": found.id})]


def test_create_with_every_option_and_list_shows_the_policy_but_no_secret(env, tmp_path, capsys):
    key = created_key(capsys, ["keys", "create", "--name", "svc", "--rate-limit", "60", "--tokens-per-minute", "9000",
                               "--token-budget", "1000000", "--budget-period", "week", "--models", "gpt-4o, bielik-*",
                               "--endpoints", "chat,embedding", "--expires-in", "86400"])
    created_key(capsys, ["keys", "create", "--name", "plain"])
    found = file_store(tmp_path).lookup(key)
    assert found.policy == KeyPolicy(endpoints=("chat", "embedding"), models=("gpt-4o", "bielik-*"),
                                     requests_per_minute=60, tokens_per_minute=9000, token_budget=1_000_000,
                                     budget_period="week")
    assert found.expires_at == pytest.approx(found.created_at + 86400, abs=5)
    assert run(["keys", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ID", "ENABLED", "EXPIRES", "ENDPOINTS", "MODELS", "LIMITS"]
    svc = next(line for line in lines if line.startswith("svc "))
    assert found.id in svc and " yes " in svc and "chat,embedding" in svc and "gpt-4o,bielik-*" in svc
    assert "60 req/min, 9000 tokens/min, 1000000 tokens/week" in svc and "UTC" in svc
    plain = next(line for line in lines if line.startswith("plain "))
    assert plain.split()[2:] == ["yes", "never", "all", "all", "default"]
    assert "sk-llmr-" not in out and key[8:20] not in out
    for digest in json.loads((tmp_path / "keys.json").read_text())["digests"]:
        assert digest not in out and digest[:16] not in out


def test_unknown_endpoint_group_exits_2_naming_the_valid_ones(env, tmp_path, capsys):
    assert run(["keys", "create", "--name", "x", "--endpoints", "chat,images"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == ("error: unknown endpoint group 'images'; valid: chat, embedding, anthropic, "
                                    "ollama, builtin, admin")
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize("argv", [
    ["keys", "create", "--name", "x", "--rate-limit", "0"],
    ["keys", "create", "--name", "x", "--rate-limit", "many"],
    ["keys", "create", "--name", "x", "--budget-period", "year", "--token-budget", "5"],
    ["keys", "create", "--name", "x", "--expires-in", "-3"],
    ["keys", "create"],
    ["keys", "rotate", "x", "--grace", "-1"],
    ["keys"],
])
def test_argparse_usage_errors_exit_2(env, argv, capsys):
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["keys", "create", "--name", "two words"], "a key name is 1-64 characters"),
    (["keys", "create", "--name", "x", "--budget-period", "day"], "--budget-period needs --token-budget"),
    (["keys", "create", "--name", "x", "--models", "a,,b, "], None),
])
def test_bad_values_exit_2_with_one_line_or_are_normalised(env, tmp_path, capsys, argv, message):
    status = run(argv)
    captured = capsys.readouterr()
    if message is None:
        assert status == 0
        assert file_store(tmp_path).get("x").policy.models == ("a", "b")
        return
    assert status == 2 and message in captured.err and captured.err.count("\n") == 1 and captured.out == ""


def test_duplicate_name_exits_1_and_keeps_the_first_key(env, tmp_path, capsys):
    key = created_key(capsys, ["keys", "create", "--name", "dup"])
    assert run(["keys", "create", "--name", "dup"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: a key named 'dup' already exists\n" and captured.out == ""
    assert file_store(tmp_path).lookup(key).name == "dup"


def test_revoke_stops_the_key_and_unknown_names_exit_1(env, tmp_path, capsys):
    events = []
    key = created_key(capsys, ["keys", "create", "--name", "bob"])
    key_id = file_store(tmp_path).lookup(key).id
    assert run(["keys", "revoke", "bob"], on_event=lambda *e: events.append(e)) == 0
    assert capsys.readouterr().out == f"revoked key 'bob' (id {key_id}): it no longer works\n"
    assert file_store(tmp_path).lookup(key) is None
    assert events == [("revoked", {"name": "bob", "id": key_id})]
    assert run(["keys", "revoke", "nobody"]) == 1
    assert capsys.readouterr().err == "error: no key named 'nobody'\n"
    assert run(["keys", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["bob", key_id, "revoked"]


def test_rotate_prints_the_new_key_last_and_the_old_one_keeps_its_grace(env, tmp_path, capsys):
    events = []
    old = created_key(capsys, ["keys", "create", "--name", "svc"])
    new = created_key(capsys, ["keys", "rotate", "svc"], on_event=lambda *e: events.append(e))
    store = file_store(tmp_path)
    assert new != old and store.lookup(new).name == "svc" and store.lookup(old).name == "svc"
    assert events == [("rotated", {"name": "svc", "id": store.lookup(new).id})]
    grace = json.loads((tmp_path / "keys.json").read_text())["digests"][key_digest(SECRET, old)]["expires_at"]
    assert grace == pytest.approx(store.get("svc").created_at + 3600, abs=10)
    newest = created_key(capsys, ["keys", "rotate", "svc", "--grace", "0"])
    store = file_store(tmp_path)
    # no grace: every earlier key stops now, the one still in its grace too
    assert store.lookup(newest) is not None and store.lookup(new) is None and store.lookup(old) is None
    assert run(["keys", "rotate", "ghost"]) == 1
    assert capsys.readouterr().err == "error: no key named 'ghost'\n"
    assert run(["keys", "revoke", "svc"]) == 0
    assert run(["keys", "rotate", "svc"]) == 1
    assert "is revoked" in capsys.readouterr().err


def test_a_failing_event_hook_still_prints_the_key_and_exits_1(env, tmp_path, capsys):
    def broken(kind, data):
        raise OSError("audit disk full")

    assert run(["keys", "create", "--name", "k"], on_event=broken) == 1
    captured = capsys.readouterr()
    key = captured.out.splitlines()[-1]
    assert looks_like_key(key) and file_store(tmp_path).lookup(key) is not None
    assert "recording the created event failed: OSError: audit disk full" in captured.err


def test_missing_secret_and_bad_settings_exit_2_with_one_line(env, tmp_path, capsys):
    env.delenv("LLM_ROUTER_AUTH_SECRET")
    for argv in (["keys", "list"], ["keys", "create", "--name", "a"], ["keys", "revoke", "a"], ["keys", "rotate", "a"]):
        assert run(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: LLM_ROUTER_AUTH_SECRET is not set") and err.count("\n") == 1
    env.setenv("LLM_ROUTER_AUTH_SECRET", "short")
    assert run(["keys", "list"]) == 2
    assert capsys.readouterr().err == "LLM_ROUTER_AUTH_SECRET must be at least 16 characters long\n"
    env.setenv("LLM_ROUTER_AUTH_SECRET", SECRET)
    env.setenv("LLM_ROUTER_AUTH_KEY_STORE", "redis")
    assert run(["keys", "list"]) == 2
    assert "needs LLM_ROUTER_AUTH_REDIS_HOST" in capsys.readouterr().err
    env.setenv("LLM_ROUTER_AUTH_KEY_STORE", "file")
    (tmp_path / "keys.json").write_text("{oops")
    assert run(["keys", "create", "--name", "a"]) == 2
    err = capsys.readouterr().err
    assert "keys.json is not valid" in err and err.count("\n") == 1
    assert (tmp_path / "keys.json").read_text() == "{oops"


def test_empty_list(env, tmp_path, capsys):
    assert run(["keys", "list"]) == 0
    assert capsys.readouterr().out == f"no keys in file {tmp_path / 'keys.json'}\n"


def test_the_redis_store_through_the_cli(env, redis_space, capsys):
    for name, value in redis_space.env().items():
        env.setenv(name, value)
    env.setenv("LLM_ROUTER_AUTH_KEY_STORE", "redis")
    key = created_key(capsys, ["keys", "create", "--name", "shared", "--models", "m*"])
    server = RedisKeyStore(redis_space.client(), redis_space.prefix, SECRET)
    found = server.lookup(key)
    assert found.name == "shared" and found.policy.models == ("m*",)
    new = created_key(capsys, ["keys", "rotate", "shared", "--grace", "60"])
    assert server.lookup(new) == found and server.lookup(key) == found
    assert run(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "shared" in out and found.id in out and "sk-llmr-" not in out
    assert run(["keys", "revoke", "shared"]) == 0
    assert server.lookup(key) is None and server.lookup(new) is None


def test_a_real_process_gives_the_key_to_tail(env, tmp_path):
    """The shell contract: KEY=$(llm-router keys create --name x | tail -1)."""
    program = ("import argparse, sys\nfrom llm_router_api.auth.cli import add_keys_commands\n"
               "p = argparse.ArgumentParser(prog='llm-router')\n"
               "add_keys_commands(p.add_subparsers(dest='command', required=True))\n"
               "a = p.parse_args()\nsys.exit(a.handler(a))\n")
    result = subprocess.run(f"{sys.executable} -c \"$PROGRAM\" keys create --name piped | tail -1", shell=True,
                            env={**os.environ, "PROGRAM": program, "PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    key = result.stdout.strip()
    assert looks_like_key(key) and result.stdout == key + "\n", result.stderr
    assert file_store(tmp_path).lookup(key).name == "piped"
