"""The interface of an upstream wire codec: how one api_type is called and read back.

Each module (``openai_wire``, ``ollama_wire``, ``anthropic_wire``) has a class with these
methods, all pure (no I/O), all taking and giving the canonical (OpenAI) form:

- ``outgoing(endpoint, payload, upstream_model, provider, stream) -> Outgoing``: the canonical
  request as this protocol's path, body and headers. ``payload["model"]`` is the public name;
  the body must carry ``upstream_model`` instead. Raises ``InvalidRequest`` for what the
  protocol cannot express (e.g. embeddings on an Anthropic server).
- ``decode(endpoint, body, public_model) -> dict``: a 2xx answer body as a canonical answer
  (``chat.completion``, ``text_completion`` or an embeddings ``list``), model = public name.
- ``error_message(body) -> str``: the human message of an error answer body.
- ``stream_decoder(endpoint, public_model)`` -> an object with ``feed(bytes) -> list[dict]``
  (canonical chunks, see ``dialects/base.py``) and ``close() -> list[dict]`` at the end of the
  bytes. Both raise ``StreamFailed`` on the upstream's error event; ``close`` raises it with
  code ``upstream_stream_truncated`` when the stream never said it was complete.
- ``request_headers(provider, stream) -> dict``: headers of a POST (also for passthrough).
- ``probe_headers(provider) -> dict``: headers for a health-check GET.
- ``family``: "openai", "ollama" or "anthropic"; a client of that protocol passes through.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    """One request to send: the path under the provider's origin, the body, the headers."""

    path: str
    body: bytes
    headers: dict[str, str]
