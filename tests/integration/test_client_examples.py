"""The client examples in examples/clients/ run as written against a gateway serving their default model.

Each script runs as a user would run it (a subprocess, only LLM_ROUTER_URL set) against an in-process
gateway whose one model, the examples' default name, is served by a fake OpenAI-compatible upstream
that answers ``tok0 tok1 ...`` and 8-dimensional embeddings. openai_sdk.py, ollama_client.py and
anthropic_sdk.py are run by test_dialect_edges.py::test_client_examples_run; this module runs the
others and checks that no example is left without a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import tests.integration.test_dialect_edges as dialect_edges
from tests.conftest import REPO_ROOT, provider
from tests.upstreams.fake_openai import FakeUpstream, _embedding

EXAMPLES = REPO_ROOT / "examples" / "clients"
MODEL = "speakleash/Bielik-11B-v2.3-Instruct"  # the examples' default LLM_ROUTER_MODEL
TESTED_HERE = ("curl.sh", "langchain_client.py", "llamaindex_openai_like.py")
ANSWER = " ".join(f"tok{i}" for i in range(64))  # the fake's answer to max_tokens=64


@pytest.fixture(scope="module")
def upstream():
    up = FakeUpstream(model=MODEL).start()
    yield up
    up.stop()


@pytest.fixture(scope="module")
def gw(upstream, module_gateway):
    return module_gateway({MODEL: {"providers": [provider(upstream, "vllm-1")]}})


@pytest.fixture
def fake(upstream):
    upstream.reset()
    return upstream


def run_example(gw, script: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLM_ROUTER_")}
    env["LLM_ROUTER_URL"] = gw.url  # the one setting a user changes; model and key keep their defaults
    command = ["bash" if script.endswith(".sh") else sys.executable, str(EXAMPLES / script)]
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def embedding_inputs(fake) -> list:
    return [r.json["input"] for r in fake.requests if r.path.endswith("/embeddings")]


def test_every_example_has_a_test():
    elsewhere = {param for mark in dialect_edges.test_client_examples_run.pytestmark
                 if mark.name == "parametrize" for param in mark.args[1]}
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted(elsewhere | set(TESTED_HERE))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(gw, fake):
    lines = run_example(gw, "curl.sh").splitlines()
    assert MODEL in [card["id"] for card in json.loads(lines[0])["data"]]
    assert json.loads(lines[1])["choices"][0]["message"]["content"].startswith("tok0 tok1 tok2")
    events = [line.removeprefix("data: ") for line in lines[2:] if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    streamed = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                       if json.loads(e)["choices"])
    assert streamed.startswith("tok0 tok1 tok2")
    assert len(fake.requests) == 2  # the two chats; /v1/models and /health are the gateway's own


def test_langchain(gw, fake):
    lines = run_example(gw, "langchain_client.py").splitlines()
    assert lines[0].strip() == ANSWER  # invoke
    assert lines[1].strip() == ANSWER  # stream
    assert lines[2] == f"{len(_embedding('Warszawa'))} dimensions"
    assert embedding_inputs(fake) == [["Warszawa"]]  # text, not token ids (check_embedding_ctx_length=False)
    chats = [r.json for r in fake.requests if r.path.endswith("/chat/completions")]
    assert [c.get("stream", False) for c in chats] == [False, True]


def test_llamaindex(gw, fake):
    lines = run_example(gw, "llamaindex_openai_like.py").splitlines()
    assert lines[0].strip() == ANSWER  # chat
    assert lines[1].strip() == ANSWER  # stream_chat
    assert lines[2] == f"{len(_embedding('Warszawa'))} dimensions"
    assert embedding_inputs(fake) == [["Warszawa"]]
    chats = [r.json for r in fake.requests if r.path.endswith("/chat/completions")]
    assert [c.get("stream", False) for c in chats] == [False, True]  # is_chat_model=True: chat, not completions
