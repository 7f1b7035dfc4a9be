"""HTTP transport to upstreams: one pooled keep-alive client per worker.

urllib3 is used directly rather than through requests: on the hot path it costs a fraction of
the CPU per call (requests adds session merging, hooks and cookie handling we do not use), and
it is already what requests runs on. Retries are off: failover between providers is the
dispatcher's job, with its own budget. urllib3's own log lines name hosts, so its logger is
kept to errors.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Iterator, Mapping

import urllib3
from urllib3 import exceptions as u3

from .errors import ConnectFailed, ProtocolFailed, ReadTimedOut, TransportError

logging.getLogger("urllib3").setLevel(logging.ERROR)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise urllib3 and socket failures as our ``TransportError`` kinds."""
    try:
        yield
    except (u3.ConnectTimeoutError, u3.NewConnectionError, u3.NameResolutionError) as exc:
        raise ConnectFailed(type(exc).__name__) from None
    except (u3.ReadTimeoutError, socket.timeout) as exc:
        raise ReadTimedOut(type(exc).__name__) from None
    except (u3.HTTPError, OSError) as exc:  # ProtocolError, SSLError, IncompleteRead, resets
        raise ProtocolFailed(type(exc).__name__) from None


class UpstreamClient:
    def __init__(self, *, pool_size: int, connect_timeout: float):
        self._connect_timeout = connect_timeout
        self._pools = urllib3.PoolManager(num_pools=256, maxsize=pool_size, block=False, retries=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, read_timeout: float,
             connect_timeout: float | None = None, stream: bool) -> urllib3.BaseHTTPResponse:
        """Send a POST; with ``stream`` the body is left unread for the caller to pull."""
        timeout = urllib3.Timeout(connect=min(connect_timeout or self._connect_timeout, read_timeout),
                                  read=read_timeout)
        with translate_errors():
            return self._pools.urlopen("POST", url, body=body, headers=headers, timeout=timeout,
                                       preload_content=not stream, redirect=False, retries=False)

    def close(self) -> None:
        self._pools.clear()


def read_chunk(response: urllib3.BaseHTTPResponse, size: int = 65536) -> bytes:
    """Whatever the upstream has sent so far (at least one byte), or b'' at the end of the body."""
    with translate_errors():
        return response.read1(size)


def set_read_timeout(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """Change the socket timeout of a response being streamed (after its first chunk)."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close an unfinished response's connection, so the upstream stops work on it at once."""
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


__all__ = ["TransportError", "UpstreamClient", "discard", "read_chunk", "set_read_timeout", "translate_errors"]
