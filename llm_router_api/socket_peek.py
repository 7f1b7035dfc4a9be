"""Look at a socket's incoming side without blocking or consuming anything.

Both ends of the gateway need this: the upstream pool, to skip idle connections the server
closed, and the routes, to skip requests whose client hung up while they waited.
"""

from __future__ import annotations

import socket


def peek(sock: socket.socket) -> bytes | None:
    """A byte the peer sent that nobody has read, b"" if the peer closed, None if nothing is waiting.

    The socket's timeout is restored. Raises OSError for a broken socket, and ValueError for a
    TLS socket, where peeking is not allowed.
    """
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        return sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    finally:
        sock.settimeout(timeout)
