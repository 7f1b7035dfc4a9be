"""The OpenAI wire protocol towards an upstream (api_type vllm, openai, llama.cpp, localai).

The client's JSON is forwarded as it came: only ``model`` is replaced by the provider's
upstream name, and when that name already matches the original bytes go out untouched. In
answers, the private upstream name (``model_path``) is put back to the public one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Iterable, Iterator

from .. import __version__
from ..config.models import ProviderConfig
from .origin import Origin

ENDPOINT_PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}

USER_AGENT = f"llm-router/{__version__}"


def endpoint_path(origin: Origin, endpoint: str) -> str:
    """The path under ``origin``; a server root given with its /v1 already is accepted too."""
    path = ENDPOINT_PATHS[endpoint]
    return path[len("/v1"):] if origin.base_path.endswith("/v1") else path


@lru_cache(maxsize=1024)
def _headers(api_token: str, stream: bool) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": USER_AGENT,
    }
    if api_token:
        headers["Authorization"] = f"Bearer {api_token}"
    return headers


def request_headers(provider: ProviderConfig, *, stream: bool) -> dict[str, str]:
    return _headers(provider.api_token, stream)


@lru_cache(maxsize=1024)
def _probe_headers(api_token: str) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if api_token:
        headers["Authorization"] = f"Bearer {api_token}"
    return headers


def probe_headers(provider: ProviderConfig) -> dict[str, str]:
    """Headers of a GET without a body (health checks): the provider's token, nothing else."""
    return _probe_headers(provider.api_token)


def request_body(payload: dict, raw: bytes, upstream_model: str) -> bytes:
    if payload.get("model") == upstream_model:
        return raw
    return json.dumps({**payload, "model": upstream_model}, ensure_ascii=False).encode("utf-8")


@lru_cache(maxsize=1024)
def rewriter_for(upstream_name: str, public_name: str) -> "ModelNameRewriter":
    """Rewriters are immutable, so one per name pair serves every request."""
    return ModelNameRewriter(upstream_name, public_name)


class ModelNameRewriter:
    """Replaces the private upstream model name with the public one in answers.

    Only the ``"model": "<name>"`` member is touched in successful answers; error bodies have
    every mention replaced, since upstream errors quote the name in prose.
    """

    def __init__(self, upstream_name: str, public_name: str):
        quoted_old = json.dumps(upstream_name, ensure_ascii=False).encode("utf-8")
        quoted_new = json.dumps(public_name, ensure_ascii=False).encode("utf-8")
        self._members = [(b'"model":' + sep + quoted_old, b'"model":' + sep + quoted_new)
                         for sep in (b"", b" ")]
        self._plain = (quoted_old[1:-1], quoted_new[1:-1])
        self.active = upstream_name != public_name

    def answer(self, body: bytes) -> bytes:
        if self.active:
            for old, new in self._members:
                body = body.replace(old, new)
        return body

    def error(self, body: bytes) -> bytes:
        return body.replace(*self._plain) if self.active else body

    def events(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Rewrite an SSE byte stream, cutting only at event boundaries so no name is split."""
        if not self.active:
            yield from chunks
            return
        pending = b""
        for chunk in chunks:
            pending += chunk
            cut = pending.rfind(b"\n\n")
            if cut < 0:
                continue
            ready, pending = pending[:cut + 2], pending[cut + 2:]
            yield self.answer(ready)
        if pending:
            yield self.answer(pending)
