"""Fake upstream servers the gateway's tests and benchmarks talk to."""

from typing import Any

__all__ = ["FakeUpstream", "RecordedRequest", "closed_port"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m tests.upstreams.fake_openai` does not load the module twice.
    if name in __all__:
        from tests.upstreams import fake_openai

        return getattr(fake_openai, name)
    raise AttributeError(name)
