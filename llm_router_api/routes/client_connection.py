"""Whether the client of the current request is still connected.

A request can wait before it is dispatched (behind busy threads with gthread, or for a free
provider slot). If its client hung up meanwhile, sending it upstream would only burn GPU time
on an answer nobody reads. gunicorn exposes the client socket; a peek tells whether the peer
closed it. A client that shuts down its sending side while still waiting for the answer would
look gone too; HTTP clients do not do that.
"""

from __future__ import annotations

from ..socket_peek import peek


def client_gone(environ: dict) -> bool:
    sock = environ.get("gunicorn.socket")
    if sock is None:  # another server (e.g. the Flask development server): assume connected
        return False
    try:
        return peek(sock) == b""  # bytes waiting are a pipelined request: still connected
    except ValueError:
        return False  # a TLS socket cannot be peeked: assume connected
    except OSError:
        return True
