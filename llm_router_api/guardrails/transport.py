"""How guard clients reach the guard service: the gateway's own pooled HTTP/1.1 client.

Keep-alive connections (a guard call costs no handshake), the same timeouts as everything
else, and gevent-friendly sockets. Failures come out as the exceptions guard clients expect:
``TimeoutError`` when the guard is slow, ``OSError`` for anything else.
"""

from __future__ import annotations

from ..upstream.client import UpstreamClient
from ..upstream.errors import ConnectFailed, ReadTimedOut, TransportError
from ..upstream.origin import Origin

MAX_ANSWER_BYTES = 16 * 1024 * 1024
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def post_json_with(client: UpstreamClient):
    """A ``post_json(url, body, timeout) -> (status, body)`` over ``client``'s pools."""

    def post_json(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        origin = Origin.of(url)
        try:
            response = client.post(origin, "", body, _HEADERS, read_timeout=timeout, connect_timeout=timeout)
        except ReadTimedOut:
            raise TimeoutError() from None
        except ConnectFailed as exc:
            if "timeout" in str(exc).lower():
                raise TimeoutError() from None
            raise ConnectionError(exc.kind) from None
        except TransportError as exc:
            raise ConnectionError(exc.kind) from None
        try:
            parts, size = [], 0
            while data := response.read_some():
                size += len(data)
                if size > MAX_ANSWER_BYTES:
                    raise ConnectionError("answer too large")
                parts.append(data)
            response.release()
            return response.status, b"".join(parts)
        except ReadTimedOut:
            response.close()
            raise TimeoutError() from None
        except TransportError as exc:
            response.close()
            raise ConnectionError(exc.kind) from None
        except BaseException:
            response.close()
            raise

    return post_json
