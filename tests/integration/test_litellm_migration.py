"""A LiteLLM user's migration, end to end: the real CLI on examples/litellm-migration/config.yaml, then the
gateway on what it wrote, reached with the official openai SDK under LiteLLM's public model names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import openai
import pytest

from tests.conftest import REPO_ROOT, register_secret
from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_ollama import FakeOllama
from tests.upstreams.fake_openai import FakeUpstream

EXAMPLE = REPO_ROOT / "examples/litellm-migration"
BIELIK_TOKEN = register_secret("sk-bielik-migration-token-5d1f0a")
ANTHROPIC_TOKEN = register_secret("sk-ant-migration-token-9b7c2e")
#: The servers config.yaml names, by the api_host the importer writes for them.
SERVERS = {
    "http://192.168.100.71:7000/": lambda: FakeUpstream(),
    "http://192.168.100.72:7000/": lambda: FakeUpstream(),
    "http://192.168.100.73:8000/": lambda: FakeUpstream(),
    "http://192.168.100.80:11434/": lambda: FakeOllama(),
    "https://api.anthropic.com/": lambda: FakeAnthropic(api_key=ANTHROPIC_TOKEN),
}


def import_litellm(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m llm_router_api.cli config import-litellm`` as a user runs it, from the repository root."""
    command = [sys.executable, "-m", "llm_router_api.cli", "config", "import-litellm",
               str(EXAMPLE / "config.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=60)


def test_the_cli_writes_exactly_the_committed_models_config():
    done = import_litellm()
    assert done.returncode == 0, done.stderr
    assert done.stdout == (EXAMPLE / "models-config.json").read_text(encoding="utf-8")
    assert "warning: skipped model_list[2] ('gpt-3.5-turbo'): provider 'azure'" in done.stderr
    assert "warning: skipped model_list[7] ('claude-bedrock'): provider 'bedrock'" in done.stderr
    assert "$BIELIK_API_KEY; fill in api_token" in done.stderr
    assert "LLM_ROUTER_BALANCE_STRATEGY=least_outstanding" in done.stderr
    assert "llm-router keys create" in done.stderr


def test_the_committed_models_config_passes_config_check():
    done = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "config", "check",
                           str(EXAMPLE / "models-config.json")], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout
    assert "OK, 5 active model(s), 5 provider(s)" in done.stdout


@pytest.fixture
def migrated(tmp_path) -> dict:
    """The example imported with --resolve-env (tokens from the environment) into a file: its models."""
    env = {**os.environ, "BIELIK_API_KEY": BIELIK_TOKEN, "ANTHROPIC_API_KEY": ANTHROPIC_TOKEN}
    target = tmp_path / "models-config.json"
    done = import_litellm("-o", str(target), "--resolve-env", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert BIELIK_TOKEN not in done.stderr and ANTHROPIC_TOKEN not in done.stderr
    return json.loads(target.read_text())["litellm_models"]


@pytest.fixture
def servers():
    """A started fake for every server config.yaml names, by api_host."""
    started = {host: make().start() for host, make in SERVERS.items()}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture
def client(migrated, servers, gateway):
    """The openai SDK on a gateway serving the imported models, with each api_host pointing at its fake.

    ``weighted`` so that the 3:1 weights LiteLLM had are visible in exact counts."""
    for model in migrated.values():
        for provider in model["providers"]:
            provider["api_host"] = servers[provider["api_host"]].url
    gw = gateway(migrated, balance_strategy="weighted")
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


def posted(fake: FakeUpstream) -> list[tuple[str, str]]:
    return [(r.path, r.json["model"]) for r in fake.requests if r.method == "POST"]


def test_gpt_3_5_turbo_reaches_both_bielik_servers_by_weight_with_the_local_name(client, servers):
    big, small = servers["http://192.168.100.71:7000/"], servers["http://192.168.100.72:7000/"]
    for public in ["gpt-3.5-turbo"] * 6 + ["bielik"] * 2:  # bielik: the model_group_alias
        answer = client.chat.completions.create(model=public, messages=[{"role": "user", "content": "Cześć!"}])
        assert answer.choices[0].message.content.startswith("tok0")
        assert answer.model == public
    bielik = "speakleash/Bielik-11B-v2.3-Instruct"
    assert posted(big) == [("/v1/chat/completions", bielik)] * 6
    assert posted(small) == [("/v1/chat/completions", bielik)] * 2
    assert {r.headers["authorization"] for r in big.requests + small.requests} == {f"Bearer {BIELIK_TOKEN}"}


def test_text_embedding_ada_002_reaches_the_embedding_server_as_bge_m3(client, servers):
    answer = client.embeddings.create(model="text-embedding-ada-002", input=["Ala ma kota", "Kot ma Alę"])
    assert [item.index for item in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) > 0
    assert client.embeddings.create(model="text-embedding-3-small", input="alias").data
    assert posted(servers["http://192.168.100.73:8000/"]) == [("/v1/embeddings", "BAAI/bge-m3")] * 2


def test_the_ollama_and_anthropic_deployments_are_served_in_their_own_protocols(client, servers):
    ollama, anthropic = servers["http://192.168.100.80:11434/"], servers["https://api.anthropic.com/"]
    chat = client.chat.completions.create(model="llama3.1", messages=[{"role": "user", "content": "echo: hej"}])
    assert chat.choices[0].message.content
    assert client.embeddings.create(model="nomic-embed-text", input="hej").data
    claude = client.chat.completions.create(model="claude-3-5-sonnet", max_tokens=20,
                                            messages=[{"role": "user", "content": "hej"}])
    assert claude.choices[0].message.content
    assert posted(ollama) == [("/api/chat", "llama3.1:8b"), ("/api/embed", "nomic-embed-text")]
    assert posted(anthropic) == [("/v1/messages", "claude-3-5-sonnet-20241022")]


def test_models_lists_litellms_public_names(client):
    listed = {model.id for model in client.models.list()}
    assert {"gpt-3.5-turbo", "bielik", "text-embedding-ada-002", "text-embedding-3-small", "llama3.1",
            "nomic-embed-text", "claude-3-5-sonnet"} <= listed
    assert not any("Bielik-11B" in name or "bge-m3" in name for name in listed)
