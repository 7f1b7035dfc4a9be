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

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .. import __version__
from .errors import StreamFailed


@dataclass(frozen=True)
class Outgoing:
    """One request to send: the path under the provider's origin, the body, the headers."""

    path: str
    body: bytes
    headers: dict[str, str]


USER_AGENT = f"llm-router/{__version__}"
MAX_ERROR_MESSAGE = 500


@lru_cache(maxsize=1024)
def post_headers(accept: str, credentials: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Headers of a JSON POST: what the answer will be, and the provider's credentials (shared: do not change)."""
    return {"Content-Type": "application/json", "Accept": accept, "User-Agent": USER_AGENT, **dict(credentials)}


@lru_cache(maxsize=1024)
def get_headers(credentials: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Headers of a GET without a body (health checks): the provider's credentials, nothing else."""
    return {"Accept": "application/json", "User-Agent": USER_AGENT, **dict(credentials)}


def bearer(api_token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {api_token}"),) if api_token else ()


def error_message(body: bytes | str) -> str:
    """The human message of an upstream error body, in any of the shapes servers use, bounded, never empty.

    ``{"error": {"message"}}`` (OpenAI, Anthropic), ``{"error": "..."}`` (Ollama), ``{"message"}``,
    else the body's text.
    """
    raw = body.encode("utf-8", errors="replace") if isinstance(body, str) else bytes(body or b"")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
        return error["message"][:MAX_ERROR_MESSAGE]
    if isinstance(error, str) and error:
        return error[:MAX_ERROR_MESSAGE]
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str) and parsed["message"]:
        return parsed["message"][:MAX_ERROR_MESSAGE]
    return raw[:MAX_ERROR_MESSAGE].decode("utf-8", errors="replace").strip() or "upstream error"


class StreamDecoder:
    """What every wire's stream decoder shares: a parser of the framing, and the end check.

    Subclasses set ``parser`` (an ``sse.EventParser`` or ``sse.LineParser``), turn its items into
    canonical chunks in ``_chunks`` and set ``complete`` when the upstream says it is done.
    """

    parser: Any
    complete = False

    def feed(self, data: bytes) -> list[dict]:
        return self._chunks(self.parser.feed(data))

    def close(self) -> list[dict]:
        chunks = self._chunks(self.parser.close())
        if not self.complete:
            raise StreamFailed("The upstream ended the stream before the answer was complete.",
                               "upstream_stream_truncated")
        return chunks

    def _chunks(self, items: list) -> list[dict]:
        raise NotImplementedError
