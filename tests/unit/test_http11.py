"""The upstream HTTP/1.1 client against a scripted raw-socket server: framing, reuse, failures."""

from __future__ import annotations

import socket
import threading

import pytest

from llm_router_api.upstream.client import UpstreamClient
from llm_router_api.upstream.errors import ConnectFailed, NoResponse, ProtocolFailed, ReadTimedOut
from llm_router_api.upstream.origin import Origin


class ScriptedServer:
    """Accepts connections; answers each request with the next scripted reply (bytes or callable)."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.connections = 0
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            buffer = b""
            while self.replies:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                reply = self.replies.pop(0)
                if callable(reply):
                    if reply(conn) == "close":
                        return
                else:
                    conn.sendall(reply)

    @property
    def origin(self) -> Origin:
        return Origin.of(f"http://127.0.0.1:{self.port}/")

    def close(self):
        self.listener.close()


@pytest.fixture
def server():
    servers = []

    def start(*replies):
        s = ScriptedServer(replies)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def post(client, srv, body=b'{"a":1}', timeout=2.0):
    return client.post(srv.origin, "/v1/chat/completions", body, {"Content-Type": "application/json"},
                       read_timeout=timeout)


JSON_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"x\":1}"


def test_request_bytes_and_content_length_answer(server):
    srv = server(JSON_OK)
    response = post(UpstreamClient(pool_size=4, connect_timeout=1), srv)
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    assert response.read_all() == b'{"x":1}'
    sent = srv.requests[0]
    assert sent.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nContent-Length: 7\r\n\r\n{\"a\":1}" in sent


def test_keep_alive_reuses_one_connection(server):
    srv = server(JSON_OK, JSON_OK, JSON_OK)
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    for _ in range(3):
        response = post(client, srv)
        assert response.read_all() == b'{"x":1}'
        response.release()
    assert srv.connections == 1


def test_connection_close_is_not_reused(server):
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    srv = server(closing, closing)
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    for _ in range(2):
        response = post(client, srv)
        response.read_all()
        response.release()
    assert srv.connections == 2


def test_chunked_with_extensions_and_trailers_coalesces_what_has_arrived(server):
    body = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6;ext=1\r\ndata: \r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
    srv = server(body, JSON_OK)
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    response = post(client, srv)
    assert response.read_some() == b"data: abc"  # both chunks were there: one piece
    assert response.read_some() == b""
    response.release()
    assert post(client, srv).read_all() == b'{"x":1}'  # framing fully consumed: connection reusable
    assert srv.connections == 1


def test_chunks_split_across_packets(server):
    def dribble(conn):
        for piece in (b"HTTP/1.1 200 OK\r\nTransfer-", b"Encoding: chunked\r\n\r\n", b"A\r\n0123", b"456789\r",
                      b"\n0\r\n", b"\r\n"):
            conn.sendall(piece)
            threading.Event().wait(0.01)  # force separate TCP segments
    srv = server(dribble)
    response = post(UpstreamClient(pool_size=4, connect_timeout=1), srv)
    assert response.read_all() == b"0123456789"


def test_close_delimited_body(server):
    def send_and_close(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n")
        return "close"
    srv = server(send_and_close)
    response = post(UpstreamClient(pool_size=4, connect_timeout=1), srv)
    assert response.read_all() == b"data: 1\n\n"


def test_interim_1xx_is_skipped_and_204_has_no_body(server):
    srv = server(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    response = post(UpstreamClient(pool_size=4, connect_timeout=1), srv)
    assert response.status == 204 and response.read_all() == b""


@pytest.mark.parametrize("reply,error", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", ProtocolFailed),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", ProtocolFailed),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", ProtocolFailed),
    (b"SMTP ready\r\n\r\n", ProtocolFailed),
    (b"HTTP/1.1 abc OK\r\n\r\n", ProtocolFailed),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ProtocolFailed),
])
def test_malformed_answers_are_protocol_failures(server, reply, error):
    def send_and_close(conn):
        conn.sendall(reply)
        return "close"
    srv = server(send_and_close)
    with pytest.raises(error):
        post(UpstreamClient(pool_size=4, connect_timeout=1), srv).read_all()


def test_a_head_that_never_ends_is_refused(server):
    def endless(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000)
        return "close"
    with pytest.raises(ProtocolFailed):
        post(UpstreamClient(pool_size=4, connect_timeout=1), server(endless))


def test_closed_without_answer_is_no_response(server):
    srv = server(lambda conn: "close")
    with pytest.raises(NoResponse):
        post(UpstreamClient(pool_size=4, connect_timeout=1), srv)


def test_a_reused_connection_closed_by_the_server_is_retried_once_on_a_fresh_one(server):
    """The keep-alive race: the server drops an idle connection just as a request goes out."""
    srv = server(JSON_OK, lambda conn: "close", JSON_OK)
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    first = post(client, srv)
    first.read_all()
    first.release()
    conn = client._idle[srv.origin][0]
    conn.is_dropped = lambda: False  # the close has not arrived yet when the pool checks
    second = post(client, srv)  # goes out on the dying connection, then again on a fresh one
    assert second.read_all() == b'{"x":1}'
    assert srv.connections == 2 and len(srv.requests) == 3


def test_idle_connections_closed_by_the_server_are_not_used(server):
    closed = threading.Event()

    def answer_then_close(conn):
        conn.sendall(JSON_OK)  # keep-alive framing, but the server hangs up right after
        conn.shutdown(socket.SHUT_RDWR)
        closed.set()
        return "close"
    srv = server(answer_then_close, JSON_OK)
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    response = post(client, srv)
    response.read_all()
    response.release()
    assert closed.wait(2)
    assert post(client, srv).read_all() == b'{"x":1}'
    assert len(srv.requests) == 2  # the dead connection was seen as dropped: nothing sent on it


def start_tls_server(tmp_path):
    """A one-shot HTTPS server with a freshly made self-signed certificate; returns (port, cert path)."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        try:
            with server_tls.wrap_socket(conn, server_side=True) as tls:
                received = b""
                while b'{"a":1}' not in received:
                    received += tls.recv(65536)
                tls.sendall(JSON_OK)
        except (ssl.SSLError, OSError):
            pass  # the client refused our certificate
        finally:
            listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], cert_path


def test_https_with_an_internal_ca(tmp_path, monkeypatch):
    port, cert_path = start_tls_server(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # how operators trust an internal CA
    client = UpstreamClient(pool_size=4, connect_timeout=2)
    response = client.post(Origin.of(f"https://localhost:{port}/"), "/v1/x", b'{"a":1}', {}, read_timeout=2)
    assert response.read_all() == b'{"x":1}'


def test_https_refuses_an_untrusted_certificate(tmp_path, monkeypatch):
    port, _ = start_tls_server(tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client = UpstreamClient(pool_size=4, connect_timeout=2)
    with pytest.raises(ConnectFailed):
        client.post(Origin.of(f"https://localhost:{port}/"), "/v1/x", b'{"a":1}', {}, read_timeout=2)


def test_read_timeout(server):
    release = threading.Event()
    srv = server(lambda conn: release.wait(5) and None)  # an upstream that never answers
    with pytest.raises(ReadTimedOut):
        post(UpstreamClient(pool_size=4, connect_timeout=1), srv, timeout=0.2)
    release.set()


def test_connection_refused_is_connect_failure():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = UpstreamClient(pool_size=4, connect_timeout=1)
    with pytest.raises(ConnectFailed):
        client.post(Origin.of(f"http://127.0.0.1:{port}/"), "/x", b"", {}, read_timeout=1)


def test_origin_parsing():
    assert Origin.of("http://10.0.0.1:7000/") == Origin("http", "10.0.0.1", 7000, "10.0.0.1:7000", "")
    assert Origin.of("https://api.example.com/v1/").host_header == "api.example.com"
    assert Origin.of("https://api.example.com/v1/").base_path == "/v1"
    assert Origin.of("http://[::1]:8000").host_header == "[::1]:8000"
