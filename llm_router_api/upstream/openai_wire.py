"""The OpenAI wire protocol towards an upstream (api_type vllm, openai, llama.cpp, localai).

An OpenAI client's JSON is forwarded as it came: only ``model`` is replaced by the provider's
upstream name, and when that name already matches the original bytes go out untouched. In
answers, the private upstream name (``model_path``) is put back to the public one.

For clients of other dialects, ``OpenAIWire`` is the codec of ``upstream/wire.py``: the
canonical request is already this protocol, so decoding is parsing (and naming the public model).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Iterable, Iterator

from ..config.models import ProviderConfig
from .errors import StreamFailed
from .origin import Origin
from .sse import EventParser
from .wire import Outgoing, StreamDecoder, bearer, error_message, get_headers, post_headers

ENDPOINT_PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
    "responses": "/v1/responses",
}




def endpoint_path(origin: Origin, endpoint: str) -> str:
    """The path under ``origin``; a server root given with its /v1 already is accepted too."""
    path = ENDPOINT_PATHS[endpoint]
    return path[len("/v1"):] if origin.base_path.endswith("/v1") else path


def request_headers(provider: ProviderConfig, *, stream: bool) -> dict[str, str]:
    return post_headers("text/event-stream" if stream else "application/json", bearer(provider.api_token))


def probe_headers(provider: ProviderConfig) -> dict[str, str]:
    return get_headers(bearer(provider.api_token))


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

    def events(self, chunks: Iterable[bytes], separator: bytes = b"\n\n") -> Iterator[bytes]:
        """Rewrite a stream, cutting only at event boundaries (SSE's blank line, NDJSON's newline)."""
        if not self.active:
            yield from chunks
            return
        pending = b""
        step = len(separator)
        for chunk in chunks:
            pending += chunk
            cut = pending.rfind(separator)
            if cut < 0:
                continue
            ready, pending = pending[:cut + step], pending[cut + step:]
            yield self.answer(ready)
        if pending:
            yield self.answer(pending)


#: Fields a converted request may carry that vLLM, llama.cpp and LocalAI take but OpenAI's own API
#: refuses as unknown (400): sampling knobs from Ollama and Anthropic clients, and the thinking
#: switch. They are left out for ``api_type: openai``.
SERVER_EXTENSIONS = ("chat_template_kwargs", "top_k", "min_p", "repetition_penalty")


class OpenAIWire:
    """api_type vllm, openai, llama.cpp, localai: the canonical form is already the wire form."""

    family = "openai"

    def outgoing(self, endpoint: str, payload: dict, upstream_model: str, provider: ProviderConfig,
                 stream: bool) -> Outgoing:
        payload = {**payload, "model": upstream_model}
        if provider.api_type == "openai":
            for name in SERVER_EXTENSIONS:
                payload.pop(name, None)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return Outgoing(endpoint_path(Origin.of(provider.api_host), endpoint), body,
                        request_headers(provider, stream=stream))

    def decode(self, endpoint: str, body: bytes, public_model: str) -> dict:
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError("the answer is not a JSON object")
        answer["model"] = public_model
        for choice in answer.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            _name_reasoning(message)
        return answer

    def error_message(self, body: bytes) -> str:
        return error_message(body)

    def stream_decoder(self, endpoint: str, public_model: str) -> "SSEChunkDecoder":
        return SSEChunkDecoder(public_model)

    def request_headers(self, provider: ProviderConfig, stream: bool) -> dict[str, str]:
        return request_headers(provider, stream=stream)

    def probe_headers(self, provider: ProviderConfig) -> dict[str, str]:
        return probe_headers(provider)


class SSEChunkDecoder(StreamDecoder):
    """OpenAI SSE bytes to chunk dicts; ``[DONE]`` says the stream is complete."""

    def __init__(self, public_model: str):
        self.public_model = public_model
        self.parser = EventParser()

    def _chunks(self, events) -> list[dict]:
        chunks = []
        for event in events:
            if event.data.strip() == "[DONE]":
                self.complete = True
                continue
            try:
                chunk = json.loads(event.data)
            except ValueError:
                raise StreamFailed("The upstream sent a malformed stream event.") from None
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                raise StreamFailed(error_message(event.data.encode()))
            chunk["model"] = self.public_model
            for choice in chunk.get("choices") or ():
                _name_reasoning(choice.get("delta") if isinstance(choice, dict) else None)
            chunks.append(chunk)
        return chunks


def _name_reasoning(message) -> None:
    """Newer vLLM calls the reasoning text ``reasoning``; the canonical name is ``reasoning_content``."""
    if isinstance(message, dict) and "reasoning" in message and "reasoning_content" not in message:
        message["reasoning_content"] = message.pop("reasoning")
