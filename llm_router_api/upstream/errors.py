"""Transport failures talking to an upstream, classified for failover and the circuit breaker.

These never reach a client as they are: the dispatcher turns them into ``GatewayError``s whose
messages name no host. ``kind`` is what logs, ``/health`` and the breaker record.
"""

from __future__ import annotations


class TransportError(Exception):
    kind = "protocol"


class ConnectFailed(TransportError):
    """No connection: refused, unreachable, DNS, TLS handshake, or connect timeout."""

    kind = "connect"


class ReadTimedOut(TransportError):
    """Connected, but the upstream sent nothing within the read timeout."""

    kind = "timeout"


class ProtocolFailed(TransportError):
    """The connection broke or the upstream spoke malformed HTTP (reset, truncated body)."""

    kind = "protocol"


class NoResponse(ProtocolFailed):
    """The connection closed before any byte of the answer: the request was not processed."""


class StreamFailed(Exception):
    """A stream decoder met the upstream's own error event, or the stream ended unfinished.

    ``code`` is ``upstream_stream_error`` (an error event) or ``upstream_stream_truncated``;
    ``message`` is safe to show (the decoder takes only the upstream's message text).
    """

    def __init__(self, message: str, code: str = "upstream_stream_error"):
        super().__init__(message)
        self.message = message
        self.code = code
