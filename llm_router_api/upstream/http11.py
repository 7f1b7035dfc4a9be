"""A small HTTP/1.1 client for the one exchange the gateway makes: POST a JSON body, read the answer.

Why not urllib3: profiling one gevent worker under load put 44% of its CPU in urllib3 and
http.client (URL parsing on every call, header parsing through the email package, four layers
per stream chunk). Our traffic is narrow: a known origin, one request shape, answers framed by
Content-Length, chunked encoding or connection close. This module does exactly that and no more
(no redirects, proxies, compression or 1xx handling beyond skipping it), which cut the gateway's
CPU per request roughly in half (bench/). It works unchanged under gevent's monkey-patching.

Stream bodies are handed over as they arrive: ``read_some`` returns every byte of chunk data
already received (several SSE events coalesced when they came together) and blocks only when
there is none.
"""

from __future__ import annotations

import select
import socket
import ssl

from ..socket_peek import peek
from .errors import ConnectFailed, NoResponse, ProtocolFailed, ReadTimedOut
from .origin import Origin

MAX_HEAD_BYTES = 64 * 1024
RECV_SIZE = 64 * 1024


class Connection:
    """One TCP (or TLS) connection to an origin, reused while both sides keep it alive."""

    def __init__(self, origin: Origin, connect_timeout: float, tls: ssl.SSLContext | None):
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=origin.host)
        except socket.timeout:
            raise ConnectFailed("connect timeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(type(exc).__name__) from None
        self.origin = origin
        self.sock = sock
        self.buffer = bytearray()
        self.reused = False

    def is_dropped(self) -> bool:
        """True when an idle connection is readable: the peer closed it (or sent unasked bytes).

        A non-blocking peek is one syscall; gevent's poll() emulation costs ten times more, so
        poll is kept for TLS, where a peek is not allowed.
        """
        if isinstance(self.sock, ssl.SSLSocket):
            poller = select.poll()  # poll, not select: no FD_SETSIZE limit
            poller.register(self.sock, select.POLLIN)
            try:
                return bool(poller.poll(0))
            except OSError:
                return True
        try:
            return peek(self.sock) is not None  # end of stream, or bytes nobody asked for
        except OSError:
            return True

    def recv_more(self) -> bool:
        """Append what the peer sent to ``buffer``; False at end of stream."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except socket.timeout:
            raise ReadTimedOut("read timeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise ProtocolFailed(type(exc).__name__) from None
        if not data:
            return False
        self.buffer += data
        return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Response:
    """An answer being read. ``status`` and ``headers`` (lower-case names) are known on creation."""

    def __init__(self, conn: Connection, pool_return, status: int, headers: dict[str, str]):
        self._conn = conn
        self._pool_return = pool_return
        self.status = status
        self.headers = headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = None
        if not self._chunked and length is not None:
            try:
                self._remaining = int(length)
            except ValueError:
                raise ProtocolFailed("bad content-length") from None
            if self._remaining < 0:
                raise ProtocolFailed("bad content-length")
        if status in (204, 304):
            self._remaining = 0
        self._reusable = headers.get("connection", "").lower() != "close" and (
            self._chunked or self._remaining is not None)
        self._chunk_left = 0      # data bytes left in the current chunk
        self._chunk_state = "size"  # size | data | crlf | trailers | done
        self.done = self._remaining == 0

    # -- reading ---------------------------------------------------------------------------
    def read_some(self) -> bytes:
        """Body bytes received so far and not yet returned (at least one), or b'' at the end."""
        while not self.done:
            data = self._take_chunked() if self._chunked else self._take_plain()
            if data:
                return data
            if self.done:
                break
            if not self._conn.recv_more():
                if self._remaining is None and not self._chunked:
                    self.done = True  # close-delimited body: EOF is its end
                    break
                raise ProtocolFailed("connection closed mid-body")
        return b""

    def read_all(self) -> bytes:
        parts = []
        while data := self.read_some():
            parts.append(data)
        return b"".join(parts)

    def _take_plain(self) -> bytes:
        buffer = self._conn.buffer
        if not buffer:
            return b""
        if self._remaining is None:
            data = bytes(buffer)
            buffer.clear()
            return data
        data = bytes(buffer[:self._remaining])
        del buffer[:len(data)]
        self._remaining -= len(data)
        if self._remaining == 0:
            self.done = True
        return data

    def _take_chunked(self) -> bytes:
        """Decode as much chunked framing as the buffer holds, returning the data found.

        Works with a cursor and trims the buffer once: trimming per chunk would copy the rest
        of the buffer for every small SSE event in it.
        """
        buffer = self._conn.buffer
        size = len(buffer)
        pos = 0
        out = []
        while pos < size:
            state = self._chunk_state
            if state == "data":
                take = min(self._chunk_left, size - pos)
                out.append(buffer[pos:pos + take])
                pos += take
                self._chunk_left -= take
                if self._chunk_left:
                    break
                self._chunk_state = "crlf"
            elif state == "crlf":
                if size - pos < 2:
                    break
                if buffer[pos:pos + 2] != b"\r\n":
                    raise ProtocolFailed("bad chunk framing")
                pos += 2
                self._chunk_state = "size"
            else:  # "size" or "trailers": a line is needed
                end = buffer.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > 1024:
                        raise ProtocolFailed("bad chunk size line")
                    break
                line = buffer[pos:end]
                pos = end + 2
                if state == "trailers":
                    if not line:
                        self._chunk_state = "done"
                        self.done = True
                        break
                    continue
                try:
                    self._chunk_left = int(bytes(line).split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolFailed("bad chunk size") from None
                self._chunk_state = "data" if self._chunk_left else "trailers"
        del buffer[:pos]
        return b"".join(out)

    # -- ending ----------------------------------------------------------------------------
    def set_read_timeout(self, seconds: float) -> None:
        self._conn.sock.settimeout(seconds)

    def release(self) -> None:
        """Done with the answer: keep the connection if it can serve another request."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.done and self._reusable and not conn.buffer:
            self._pool_return(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Abandon the answer: close the connection so the upstream stops working on it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def read_head(conn: Connection) -> tuple[int, dict[str, str]]:
    """Read the status line and headers, skipping 1xx interim answers."""
    while True:
        buffer = conn.buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise ProtocolFailed("response head too large")
            try:
                more = conn.recv_more()
            except ProtocolFailed as exc:  # reset
                raise (NoResponse(*exc.args) if not buffer else exc) from None
            if not more:
                raise NoResponse("closed before response") if not buffer else ProtocolFailed("closed mid-head")
            end = buffer.find(b"\r\n\r\n")
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolFailed("not an HTTP/1.x answer")
        try:
            status = int(parts[1])
        except ValueError:
            raise ProtocolFailed("bad status code") from None
        if 100 <= status < 200:
            continue
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return status, headers
