"""Keys and limits shared by every gunicorn worker through Redis, and a key made by the CLI at once."""

from __future__ import annotations

import subprocess
import sys

import requests

from tests.conftest import REPO_ROOT, provider, register_secret

SECRET = register_secret("cluster-hmac-secret-0123456789")
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_limits_hold_across_four_workers_and_a_cli_key_works_at_once(upstreams, gateway_process, redis_space):
    up = upstreams()
    auth = {"LLM_ROUTER_AUTH_KEY_STORE": "redis", "LLM_ROUTER_AUTH_SECRET": SECRET, **redis_space.env()}
    gw = gateway_process({"m": {"providers": [provider(up, "a")]}}, LLM_ROUTER_SERVER_WORKERS_COUNT="4",
                         LLM_ROUTER_AUTH_ENABLED="1", **auth)
    env = {"PATH": "/usr/bin:/bin", **auth}

    def create(*args):
        result = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "keys", "create", *args], cwd=REPO_ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return register_secret(result.stdout.strip().splitlines()[-1])

    a, b = create("--name", "a", "--rate-limit", "3"), create("--name", "b", "--rate-limit", "3")
    statuses = [requests.post(gw.v1 + "/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {a}"},
                              timeout=10).status_code for _ in range(12)]  # new connections: spread over workers
    assert statuses == [200] * 3 + [429] * 9
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {b}"},
                         timeout=10).status_code == 200
    assert len(up.requests) == 4  # refused requests never reached the upstream
    log = gw.log_text()
    assert "key=a" in log and a not in log and SECRET not in log
