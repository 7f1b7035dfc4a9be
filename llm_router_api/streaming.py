"""Relay an upstream SSE stream to the client, chunk by chunk, and end it cleanly in every case.

- Bytes go out as they arrive (no parsing unless the model name must be rewritten).
- The upstream breaking mid-stream, or ending without ``[DONE]``, gives the client an OpenAI
  error event and ``[DONE]``: an error it can see, never a hang or a silently short answer.
- The client leaving closes this generator (gunicorn calls ``close()`` when a write fails);
  the upstream connection is closed at once, so the server frees the GPU slot.
- The provider's lease is released exactly once, with an outcome for its circuit breaker.
"""

from __future__ import annotations

import json
import logging
from typing import Iterator

from .balancing import Outcome
from .dispatch import UpstreamStream
from .upstream.errors import TransportError

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
_TAIL = 32


def error_event(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _error_ending(tail: bytes, message: str, code: str) -> bytes:
    """An error event and [DONE], after a blank line if the last event was left unfinished."""
    separator = b"" if not tail or tail.endswith(b"\n\n") else b"\n\n"
    return separator + error_event(message, code) + DONE


def _upstream_chunks(stream: UpstreamStream) -> Iterator[bytes]:
    yield stream.first_chunk
    while chunk := stream.response.read_some():
        yield chunk


def relay(stream: UpstreamStream) -> Iterator[bytes]:
    outcome, error = Outcome.NEUTRAL, None
    tail = b""
    is_sse = stream.content_type.startswith("text/event-stream")
    try:
        try:
            for chunk in stream.rewriter.events(_upstream_chunks(stream)):
                tail = (tail + chunk)[-_TAIL:]
                yield chunk
        except TransportError as exc:
            outcome, error = Outcome.FAILURE, exc.kind
            log.error("provider=%s stream broke after it started: %s", stream.provider_id, exc.kind)
            yield _error_ending(tail, "The upstream stream broke before the answer was complete.",
                                "upstream_stream_interrupted")
            return
        if is_sse and DONE.strip() not in tail:
            outcome, error = Outcome.FAILURE, "truncated_stream"
            log.error("provider=%s stream ended without [DONE]", stream.provider_id)
            yield _error_ending(tail, "The upstream ended the stream before the answer was complete.",
                                "upstream_stream_truncated")
            return
        outcome = Outcome.SUCCESS
    finally:
        # Reached on success, on failure, and on GeneratorExit when the client went away.
        if outcome is Outcome.SUCCESS:
            stream.response.release()  # fully read: the connection goes back to the pool
        else:
            stream.response.close()
        stream.lease.release(outcome, error)
