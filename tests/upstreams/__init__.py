"""Fake upstream servers the gateway's tests and benchmarks talk to."""

import importlib
from typing import Any

_HOMES = {
    "FakeUpstream": "fake_openai",
    "RecordedRequest": "fake_openai",
    "closed_port": "fake_openai",
    "FakeOllama": "fake_ollama",
    "FakeAnthropic": "fake_anthropic",
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m tests.upstreams.fake_openai` does not load the module twice.
    if name in _HOMES:
        return getattr(importlib.import_module(f"tests.upstreams.{_HOMES[name]}"), name)
    raise AttributeError(name)
