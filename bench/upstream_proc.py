"""The benchmark's upstream: ``tests.upstreams.fake_openai`` in a process of its own, with a stats channel.

``--protocol ollama`` or ``anthropic`` runs ``fake_ollama.FakeOllama`` or ``fake_anthropic.FakeAnthropic``
instead (same constructor, same counters): the dialect benchmark's upstreams.

The fake's CLI (``python -m tests.upstreams.fake_openai``) cannot report what it saw. The hold test
needs the upstream's own count of streams open at once (``FakeUpstream.peak_concurrency``), so this
wrapper runs the same server through its Python API and answers one-line commands on stdin:

- ``reset``  forget recorded requests and restart the peak count (answers ``{"ok": true}``)
- ``stats``  one JSON line: peak_concurrency, in_flight, requests, disconnects

Running it as a separate process keeps the upstream's event loop off the load generator's GIL.
When stdin closes (the benchmark exited, even by SIGKILL) the server stops.
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_ollama import FakeOllama
from tests.upstreams.fake_openai import FakeUpstream

PROTOCOLS = {"openai": FakeUpstream, "ollama": FakeOllama, "anthropic": FakeAnthropic}  # --protocol -> fake


def _stats(up: FakeUpstream) -> dict[str, int]:
    return {
        "peak_concurrency": up.peak_concurrency,
        "in_flight": up.in_flight,
        "requests": len(up.requests),
        "disconnects": up.disconnects,
    }


def serve_commands(up: FakeUpstream) -> None:
    """Answer commands until stdin closes or says ``quit``."""
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        if command == "reset":
            up.reset()
            answer: dict[str, object] = {"ok": True}
        elif command == "stats":
            answer = dict(_stats(up))
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI upstream with a stats channel on stdin.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--n-tokens", type=int, default=64)
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="openai",
                        help="which fake: OpenAI/vLLM (default), Ollama or Anthropic")
    args = parser.parse_args(argv)
    fake = PROTOCOLS[args.protocol]
    up = fake(token_delay=args.token_delay, n_tokens=args.n_tokens, port=args.port, model="bench-model")
    with up:
        print(f"listening on {up.url}", flush=True)
        serve_commands(up)


if __name__ == "__main__":
    main()
