"""A streamed answer frees its provider's slot before the client gets the stream's end.

A client that sends its next request the moment it has read ``data: [DONE]`` must find the slot
free: with ``max_concurrency: 1`` on a model-swapping box, a slot still taken sends that request
to another box (a model swap) or makes it wait (examples/localai-llamacpp).

The upstream here is a small HTTP server of the test's own (:class:`HeldEnd`): it sends the whole
answer, ``[DONE]`` included, then keeps its chunked body open until the test lets it end. That
makes the ordering observable without timing: while the upstream has not closed its body, the
gateway has already given the client every event, so the slot must already be free.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading

import pytest
import requests

from tests.conftest import provider, until


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class HeldEnd:
    """An OpenAI-protocol server: a chat whose last message is ``hold`` streams to ``[DONE]`` and then
    waits for :attr:`end` before its terminating chunk; any other chat is answered at once."""

    def __init__(self) -> None:
        self.end = threading.Event()
        self.served: list[str] = []  # the last message of each chat, in the order they arrived
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while outer._answer(self.rfile, self.wfile):
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> "HeldEnd":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.end.set()
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, rfile, wfile) -> bool:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = rfile.readline()
            if not line:
                return False
            head += line
        length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0)
        body = json.loads(rfile.read(length) or b"{}")
        last = body["messages"][-1]["content"]
        with self._lock:
            self.served.append(last)
        model = body.get("model", "m")
        if not body.get("stream"):
            answer = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                        % (len(answer), answer))
            wfile.flush()
            return True

        def event(delta: dict, finish: str | None) -> bytes:
            data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return _chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

        wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    + event({"role": "assistant", "content": "hello"}, None) + event({}, "stop")
                    + _chunk(b"data: [DONE]\n\n"))
        wfile.flush()
        if last == "hold":
            self.end.wait(30)  # the body stays open: the answer is complete, the connection not yet
        wfile.write(b"0\r\n\r\n")
        wfile.flush()
        return True


@pytest.fixture
def held_end():
    server = HeldEnd().start()
    yield server
    server.stop()


def chat(gw, content: str, stream: bool = False, **kwargs) -> requests.Response:
    return requests.post(gw.v1 + "/chat/completions", stream=stream, timeout=30,
                         json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": content}]},
                         **kwargs)


def health_of(gw, provider_id: str) -> dict:
    body = requests.get(gw.url + "/health", timeout=5).json()
    return next(p for m in body["models"] for p in m["providers"] if p["id"] == provider_id)


@pytest.mark.parametrize("pool", ["local", "redis"])
def test_the_next_request_sent_at_done_gets_the_same_provider(pool, held_end, upstreams, gateway, request):
    """first_available with one slot on ``box``: the request sent right after ``[DONE]`` goes to ``box``
    again (not to ``spare``) and does not wait, although the upstream has not ended its body yet."""
    spare = upstreams()
    settings = request.getfixturevalue("redis_space").settings() if pool == "redis" else {}
    gw = gateway({"m": {"providers": [provider(held_end.port, "box", max_concurrency=1),
                                      provider(spare, "spare", max_concurrency=1)]}},
                 balance_strategy="first_available", queue_wait_seconds=0, **settings)
    with chat(gw, "hold", stream=True) as stream:
        assert stream.status_code == 200
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line == b"data: [DONE]":
                break
        assert lines[-1] == b"data: [DONE]" and not held_end.end.is_set()  # the client has the end
        answer = chat(gw, "next")  # sent at once, as a client with its next request does
        assert answer.status_code == 200, answer.text
        assert held_end.served == ["hold", "next"] and not spare.requests  # the same box, no other one
        if pool == "redis":
            assert request.getfixturevalue("redis_space").slot_holders("box") == []
        assert health_of(gw, "box")["in_flight"] == 0
        held_end.end.set()  # the upstream ends its body; the gateway reads it and ends the response
    until(lambda: health_of(gw, "box")["worker_in_flight"] == 0, 10, "the stream's end")
    box = health_of(gw, "box")
    assert box["in_flight"] == 0 and box["worker_in_flight"] == 0  # released once: never below zero
    assert box["state"] == "healthy"


def test_a_client_that_leaves_after_done_releases_the_slot_once(held_end, gateway):
    """The early release and the generator's close on a client that went away give back one slot."""
    gw = gateway({"m": {"providers": [provider(held_end.port, "box", max_concurrency=1)]}},
                 balance_strategy="first_available", queue_wait_seconds=0)
    sock = socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])), timeout=10)
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hold"}]}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
    received = b""
    while b"data: [DONE]" not in received:
        data = sock.recv(65536)
        assert data, received
        received += data
    sock.close()  # gone before the upstream ended its body
    assert health_of(gw, "box")["in_flight"] == 0
    held_end.end.set()
    until(lambda: health_of(gw, "box")["worker_in_flight"] == 0, 10, "the stream's end")
    assert [chat(gw, "again").status_code for _ in range(3)] == [200] * 3  # the one slot still works
    box = health_of(gw, "box")
    assert box["in_flight"] == 0 and box["worker_in_flight"] == 0


def test_a_converted_stream_has_freed_its_slot_when_the_client_has_its_end(held_end, gateway, redis_space):
    """The same for a stream converted to another dialect (an Ollama client, an OpenAI upstream):
    the slot is free, cluster-wide, when the client reads the final line. (The release comes right
    after the upstream's end here too, so this guards the ordering rather than forcing a race.)"""
    gw = gateway({"m": {"providers": [provider(held_end.port, "box", max_concurrency=1)]}},
                 balance_strategy="first_available", queue_wait_seconds=0, **redis_space.settings())
    held_end.end.set()  # the converted stream's last line is only made once the upstream ended
    for _ in range(5):
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hold"}]}
        with requests.post(gw.url + "/api/chat", json=body, stream=True, timeout=30) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if json.loads(line).get("done"):
                    assert redis_space.slot_holders("box") == []
                    break
            else:
                pytest.fail("no final line")
    box = health_of(gw, "box")
    assert box["in_flight"] == 0 and box["worker_in_flight"] == 0
