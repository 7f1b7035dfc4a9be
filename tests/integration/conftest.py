"""Fixtures of the dialect tests: one fake upstream per protocol behind one gateway, per module."""

from __future__ import annotations

import pytest

from tests.conftest import register_secret
from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_ollama import FakeOllama
from tests.upstreams.fake_openai import FakeUpstream

PROVIDERS = ("vllm", "ollama", "anthropic")  # the api_types of the matrix; "responses" serves /v1/responses
TOOL = {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}
TOKEN = register_secret("sk-upstream-secret")


@pytest.fixture(scope="module")
def fakes():
    ups = {"vllm": FakeUpstream(model="private-vllm").start(),
           "ollama": FakeOllama(model="private-ollama").start(),
           "anthropic": FakeAnthropic(model="private-anthropic", api_key=TOKEN).start(),  # refuses a missing key
           "responses": FakeUpstream(model="private-responses", serves_responses=True).start()}
    yield ups
    for up in ups.values():
        up.stop()


@pytest.fixture(scope="module")
def gw(fakes, module_gateway):
    models = {f"m-{kind}": {"providers": [{"id": f"{kind}-1", "api_host": up.url,
                                           "api_type": "vllm" if kind == "responses" else kind,
                                           "model_path": f"private-{kind}", "api_token": TOKEN,
                                           "input_size": 4096}]}
              for kind, up in fakes.items()}
    # The error tests make providers fail on purpose; ejection is tested elsewhere, and must not
    # leave a provider out for the tests that follow in the module.
    return module_gateway(models, circuit_breaker_failures=1_000_000)


@pytest.fixture
def fake(fakes, request):
    """The fake behind ``provider`` (the test's parameter), back to normal behaviour afterwards."""
    up = fakes[request.getfixturevalue("provider")]
    up.reset()
    yield up
    up.behaviour = "echo"
