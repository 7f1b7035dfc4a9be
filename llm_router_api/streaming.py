"""Stream an upstream's answer to the client, chunk by chunk, and end it cleanly in every case.

Two ways, one set of guarantees:
- ``relay``: the upstream speaks the client's protocol; bytes go out as they arrive, only cut at
  event boundaries when the model name must be rewritten.
- ``convert``: the upstream speaks another protocol; its wire decoder turns bytes into canonical
  chunks and the client dialect's encoder turns those into the client's events.

Either way: the upstream breaking mid-stream, or ending without its end marker, gives the client
an error event in its own dialect, never a hang or a silently short answer. The client leaving
closes the generator (gunicorn calls ``close()`` when a write fails) and the upstream connection
is closed at once, so the server frees the GPU slot. The provider's lease is released exactly
once, with an outcome for its circuit breaker.

The lease is released as soon as the upstream's answer is over (its end marker read, or its
body ended), before the client is given the last bytes: a client that sends its next request
the moment it has ``[DONE]`` must find the provider's slot free. Released after the final
yield, the slot stayed taken until the server asked the generator for more, so with
``max_concurrency: 1`` that next request went to another box (a model swap) or waited.
Every other path (client gone, upstream error, guard cut) still releases in ``_finish``;
``Lease.release`` acts once, so the early release and ``_finish`` never release twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from .balancing import Outcome
from .dialects import anthropic, ollama
from .dialects.base import usage_counts
from .dialects.openai import DONE, stream_error_event
from .dispatch import UpstreamStream
from .observability.request_record import RequestRecord
from .upstream.errors import StreamFailed, TransportError
from .upstream.sse import sse_frame

log = logging.getLogger(__name__)

_TAIL = 512  # enough to hold Ollama's whole final line, where "done":true sits before the counts
INTERRUPTED = "The upstream stream broke before the answer was complete."
TRUNCATED = "The upstream ended the stream before the answer was complete."


class ChunkStage(Protocol):
    """Looks at canonical chunks on their way to the encoder; ``close`` gives what it held back.

    A stage may set ``cut`` to end the answer early (a guardrail blocked it): the stream then
    stops reading the upstream and ends normally after what the stage gave. A stage that cannot
    go on raises :class:`StageFailed`.
    """

    cut: bool

    def __call__(self, chunks: list[dict]) -> list[dict]: ...

    def close(self) -> list[dict]: ...


class StageFailed(Exception):
    """A stage cannot go on (a guard gave no verdict); the client gets an error event, the provider no blame."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


class StageChain:
    """Stages one after another: each gets what the one before gave, at ``close`` too."""

    def __init__(self, stages: list[ChunkStage]):
        self.stages = stages

    @property
    def cut(self) -> bool:
        return any(getattr(stage, "cut", False) for stage in self.stages)

    def __call__(self, chunks: list[dict]) -> list[dict]:
        for stage in self.stages:
            chunks = stage(chunks)
        return chunks

    def close(self) -> list[dict]:
        out: list[dict] = []
        for stage in self.stages:
            out = (stage(out) if out else []) + stage.close()
        return out


def chain(*stages: ChunkStage | None) -> ChunkStage | None:
    """The stages that are there, as one (None when none is)."""
    present = [stage for stage in stages if stage is not None]
    if len(present) <= 1:
        return present[0] if present else None
    return StageChain(present)


@dataclass(frozen=True)
class Framing:
    """How a protocol's stream is cut into events, how it says it is complete, how it ends in error."""

    separator: bytes
    is_complete: Callable[[bytes], bool]  # given the stream's last bytes
    error_event: Callable[[str, str], bytes]  # (message, code) -> one event
    overhead_events: int = 0  # events that carry no token (role, finish, usage, end marker)

    def error_ending(self, tail: bytes, message: str, code: str) -> bytes:
        """The error event, after a separator if the last event was left unfinished."""
        separator = b"" if not tail or tail.endswith(self.separator) else self.separator
        return separator + self.error_event(message, code)


OPENAI_SSE = Framing(b"\n\n", lambda tail: DONE.strip() in tail, stream_error_event, overhead_events=3)
OPENAI_RESPONSES = Framing(
    b"\n\n", lambda tail: any(m in tail for m in (b"response.completed", b"response.incomplete", b"response.failed")),
    lambda message, code: sse_frame(json.dumps({"type": "error", "code": code, "message": message, "param": None}),
                                    "error"))
OLLAMA_NDJSON = Framing(b"\n", lambda tail: b'"done":true' in tail or b'"done": true' in tail,
                        ollama.stream_error_line)
ANTHROPIC_SSE = Framing(b"\n\n", lambda tail: b"message_stop" in tail, anthropic.stream_error_event)


def _upstream_chunks(stream: UpstreamStream) -> Iterator[bytes]:
    yield stream.first_chunk
    while chunk := stream.response.read_some():
        yield chunk


def _ended(framing: Framing, tail: bytes) -> bool:
    """The last event read is whole and is the stream's end marker: the upstream's answer is over."""
    if not tail.endswith(framing.separator):
        return False
    last = tail[:-len(framing.separator)].rsplit(framing.separator, 1)[-1]
    return framing.is_complete(last)


def _finish(stream: UpstreamStream, outcome: Outcome, error: str | None, record: RequestRecord | None) -> None:
    # Reached on success, on failure, and on GeneratorExit when the client went away.
    if outcome is Outcome.SUCCESS:
        stream.response.release()  # fully read: the connection goes back to the pool
    else:
        stream.response.close()
    stream.lease.release(outcome, error)
    if record is not None:
        record.first_byte_at = stream.lease.first_byte_at
        record.last_byte_at = time.monotonic()


def relay(stream: UpstreamStream, framing: Framing = OPENAI_SSE, record: RequestRecord | None = None
          ) -> Iterator[bytes]:
    """The upstream's bytes as they come (the model name put back to the public one).

    ``record`` gets the number of events and the token counts the stream's end carries.
    """
    outcome, error = Outcome.NEUTRAL, None
    tail = b""
    events = 0
    separator = framing.separator
    try:
        try:
            for chunk in stream.rewriter.events(_upstream_chunks(stream), separator):
                tail = (tail + chunk)[-_TAIL:]
                events += chunk.count(separator)
                if _ended(framing, tail):
                    # The answer is complete: free the slot before the client gets its end (the
                    # connection's last bytes are still read below, and _finish releases it).
                    stream.lease.release(Outcome.SUCCESS)
                yield chunk
        except TransportError as exc:
            outcome, error = Outcome.FAILURE, exc.kind
            log.error("provider=%s stream broke after it started: %s", stream.provider_id, exc.kind)
            yield framing.error_ending(tail, INTERRUPTED, "upstream_stream_interrupted")
            return
        if not framing.is_complete(tail):
            outcome, error = Outcome.FAILURE, "truncated_stream"
            log.error("provider=%s stream ended without its end marker", stream.provider_id)
            yield framing.error_ending(tail, TRUNCATED, "upstream_stream_truncated")
            return
        outcome = Outcome.SUCCESS
    finally:
        _finish(stream, outcome, error, record)
        if record is not None:
            record.events = events
            record.usage_from_bytes(tail)
            if record.output_tokens is None:  # no usage in the stream: its events stand in for tokens
                record.output_tokens = max(events - framing.overhead_events, 0) or None


def convert(stream: UpstreamStream, decoder, encoder, record: RequestRecord | None = None,
            stage: ChunkStage | None = None) -> Iterator[bytes]:
    """The upstream's events decoded to canonical chunks and encoded in the client's dialect.

    ``stage`` sees the canonical chunks between the two (response guardrails, unmasking); only
    requests that need one have it. When it cuts the answer short, the upstream is not read
    further and its connection is closed.
    """
    outcome, error = Outcome.NEUTRAL, None
    seen = _Seen()
    if stage is None:
        chunks, last = seen, lambda final: seen(final)
    else:
        chunks, last = (lambda new: seen(stage(new))), (lambda final: seen(stage(final) + stage.close()))
    try:
        try:
            cut = False
            for data in _upstream_chunks(stream):
                out = b"".join(encoder.encode(chunk) for chunk in chunks(decoder.feed(data)))
                if out:
                    yield out
                if stage is not None and stage.cut:
                    cut = True  # the rest is not read: closing the connection stops the generation
                    break
            ending = [] if cut else decoder.close()  # raises StreamFailed on a truncated answer
            # Nothing more is read from the upstream: free its slot (a cut closes the connection)
            # before the stage's last verdict and the client's final bytes.
            stream.response.release()
            stream.lease.release(Outcome.SUCCESS)
            final = [] if cut else last(ending)
            yield b"".join(encoder.encode(chunk) for chunk in final) + encoder.finish()
        except StageFailed as exc:
            outcome, error = Outcome.NEUTRAL, exc.code
            yield encoder.fail(exc.message, exc.code)
            return
        except TransportError as exc:
            outcome, error = Outcome.FAILURE, exc.kind
            log.error("provider=%s stream broke after it started: %s", stream.provider_id, exc.kind)
            yield encoder.fail(INTERRUPTED, "upstream_stream_interrupted")
            return
        except StreamFailed as exc:
            outcome, error = Outcome.FAILURE, exc.code
            log.error("provider=%s stream failed: %s", stream.provider_id, exc.code)
            yield encoder.fail(exc.message, exc.code)
            return
        outcome = Outcome.SUCCESS
    finally:
        _finish(stream, outcome, error, record)
        if record is not None:
            record.events = seen.content
            record.usage(*seen.usage)
            if record.output_tokens is None:
                record.output_tokens = seen.content or None


class _Seen:
    """Counts the canonical chunks that carry content and keeps the last usage reported."""

    def __init__(self) -> None:
        self.content = 0
        self.usage = (0, 0)

    def __call__(self, chunks: list[dict]) -> list[dict]:
        for chunk in chunks:
            if chunk.get("usage"):
                self.usage = usage_counts(chunk)
            if chunk.get("choices"):
                self.content += 1
        return chunks
