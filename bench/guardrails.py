"""What guardrails cost a request through the gateway: latency of chats and streams with the
request guard, the response guard, both, and neither, against the same upstream called directly,
in one invocation.

Run from the repository root (the guard service runs the tiny test classifier on the CPU)::

    python -m bench.guardrails [--quick] [--out bench/results/guardrails-latest.md]

Processes: a fake vLLM (64 tokens, ``--token-delay`` seconds apart, 20 ms by default: 50 tokens/s,
a busy GPU's pace), the real guard service (``./run-sojka-guardrail.sh``, gunicorn, the classifier
of ``tests/fixtures/tiny_guard/model``), and one gateway (1 gevent worker) per configuration.
One client, one request at a time, keep-alive; every chat has a user message of its own (so the
verdict cache never answers for it), and a conversation of 6 earlier turns to show what the cache
saves. Stream TTFT is the time to the first event with content text, as a user sees it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from .procs import free_port
from .report import table

REPO = Path(__file__).resolve().parents[1]
GUARD_MODEL = REPO / "tests" / "fixtures" / "tiny_guard" / "model"
CONFIGS = {
    "off": {},
    "request guard": {"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "1"},
    "response guard": {"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE": "1"},
    "both": {"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "1", "LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE": "1"},
}
HISTORY = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Wiadomość numer {i} w tej rozmowie, "
            "całkiem zwyczajna i spokojna, o pogodzie i o planach na weekend."} for i in range(6)]


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.children: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], ready_url: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        child = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        self.children.append(child)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise SystemExit(f"{name} exited: see {self.logs / (name + '.log')}")
            try:
                if requests.get(ready_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)  # waiting for a server to come up, outside any measured window
        raise SystemExit(f"{name} not ready in 120 s: see {self.logs / (name + '.log')}")

    def stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


def _chat(session: requests.Session, url: str, messages: list[dict]) -> float:
    started = time.perf_counter()
    response = session.post(url + "/v1/chat/completions", json={"model": "m", "messages": messages,
                                                                 "max_tokens": 64}, timeout=60)
    response.raise_for_status()
    assert response.json()["choices"][0]["finish_reason"] in ("length", "stop")
    return (time.perf_counter() - started) * 1000


def _stream(session: requests.Session, url: str, text: str) -> tuple[float, float, int]:
    """(ms to the first content text, ms to the end, content characters)."""
    started = time.perf_counter()
    first = None
    characters = 0
    with session.post(url + "/v1/chat/completions", stream=True, timeout=60, json={
            "model": "m", "messages": [{"role": "user", "content": text}], "max_tokens": 64, "stream": True}) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if not line.startswith(b"data: {"):
                continue
            event = json.loads(line[6:])
            assert "error" not in event, event
            for choice in event.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    characters += len(content)
                    if first is None:
                        first = time.perf_counter()
    ended = time.perf_counter()
    return ((first or ended) - started) * 1000, (ended - started) * 1000, characters


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(url: str, rounds: int) -> dict[str, float]:
    session = requests.Session()
    for _ in range(3):  # warm: connections, the guard's first forward passes
        _chat(session, url, [{"role": "user", "content": f"rozgrzewka {uuid.uuid4().hex}"}])
        _stream(session, url, "rozgrzewka")
    chats, histories, ttfts, totals, sizes = [], [], [], [], []
    for i in range(rounds):
        message = {"role": "user", "content": f"Pytanie {i} ({uuid.uuid4().hex[:8]}): jak ugotować barszcz?"}
        chats.append(_chat(session, url, [message]))
        histories.append(_chat(session, url, [*HISTORY, message]))
        ttft, total, size = _stream(session, url, message["content"])
        ttfts.append(ttft)
        totals.append(total)
        sizes.append(size)
    return {"chat_p50": statistics.median(chats), "chat_p95": _p(chats, 0.95),
            "history_p50": statistics.median(histories),
            "ttft_p50": statistics.median(ttfts), "ttft_p95": _p(ttfts, 0.95),
            "stream_p50": statistics.median(totals), "chars": statistics.median(sizes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 rounds instead of 100")
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--first-window", type=int, default=32, help="LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS")
    parser.add_argument("--window", type=int, default=400, help="LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="LLM_ROUTER_GUARD_TORCH_THREADS of the guard service (it shares 2 cores with the rest)")
    parser.add_argument("--out", default="bench/results/guardrails-latest.md")
    args = parser.parse_args(argv)
    rounds = 20 if args.quick else 100
    logs = Path(tempfile.mkdtemp(prefix="bench-guardrails-"))
    procs = Processes(logs)
    results: dict[str, dict[str, float]] = {}
    try:
        upstream_port, guard_port = free_port(), free_port()
        procs.start("upstream", [sys.executable, "-m", "tests.upstreams.fake_openai", "--port", str(upstream_port),
                                 "--token-delay", str(args.token_delay), "--n-tokens", "64", "--model", "m"], {},
                    f"http://127.0.0.1:{upstream_port}/health")
        procs.start("guard", ["./run-sojka-guardrail.sh"], {
            "LLM_ROUTER_API_HOST": "127.0.0.1", "LLM_ROUTER_API_PORT": str(guard_port),
            "LLM_ROUTER_SOJKA_GUARD_MODEL_PATH": str(GUARD_MODEL), "LLM_ROUTER_SOJKA_GUARD_DEVICE": "-1",
            # The tiny classifier knows a dozen phrases; on other text its verdicts are noise. The bench
            # measures what judging costs, so nothing may be flagged: every verdict is "safe".
            "LLM_ROUTER_SOJKA_GUARD_THRESHOLD": "1.0", "LLM_ROUTER_GUARD_TORCH_THREADS": str(args.torch_threads)},
                    f"http://127.0.0.1:{guard_port}/api/ping")
        config = logs / "models.json"
        config.write_text(json.dumps({"g": {"m": {"providers": [{
            "id": "up", "api_host": f"http://127.0.0.1:{upstream_port}", "api_type": "vllm"}]}},
            "active_models": {"g": ["m"]}}))
        gateways = {}
        for name, variables in CONFIGS.items():
            port = free_port()
            procs.start(f"gateway-{name.replace(' ', '-')}", [sys.executable, "-m", "llm_router_api.rest_api"], {
                "LLM_ROUTER_MODELS_CONFIG": str(config), "LLM_ROUTER_SERVER_HOST": "127.0.0.1",
                "LLM_ROUTER_SERVER_PORT": str(port), "LLM_ROUTER_SERVER_WORKERS_COUNT": "1",
                "LLM_ROUTER_LOG_LEVEL": "WARNING", "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "0",
                "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST": f"http://127.0.0.1:{guard_port}",
                "LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS": str(args.first_window),
                "LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS": str(args.window), **variables},
                        f"http://127.0.0.1:{port}/ping")
            gateways[name] = f"http://127.0.0.1:{port}"
        results["direct"] = measure(f"http://127.0.0.1:{upstream_port}", rounds)
        for name, url in gateways.items():
            results[name] = measure(url, rounds)
    finally:
        procs.stop()
    off = results["off"]
    rows = [[name, f"{r['chat_p50']:.1f}", f"{r['chat_p95']:.1f}", f"{r['chat_p50'] - off['chat_p50']:+.1f}",
             f"{r['history_p50']:.1f}", f"{r['ttft_p50']:.0f}", f"{r['ttft_p95']:.0f}",
             f"{r['ttft_p50'] - off['ttft_p50']:+.0f}", f"{r['stream_p50']:.0f}",
             f"{r['stream_p50'] - off['stream_p50']:+.0f}"] for name, r in results.items()]
    header = ["", "chat p50 ms", "chat p95 ms", "chat vs off", "again + 6-turn history p50", "stream TTFT p50 ms",
              "TTFT p95", "TTFT vs off", "stream end p50 ms", "end vs off"]
    report = [f"# Guardrails through the gateway ({time.strftime('%Y-%m-%d %H:%M')}, {platform.node()})", "",
              f"`python -m bench.guardrails{' --quick' if args.quick else ''}`: {rounds} rounds per row, one client, "
              f"64-token answers {args.token_delay * 1000:.0f} ms apart, stream windows of {args.first_window} growing to "
              f"{args.window} characters, the "
              "guard service with the tiny test classifier on the CPU (1 gunicorn worker, "
              f"{args.torch_threads} torch thread(s), threshold 1.0: nothing is "
              "flagged, every text is judged). Rows: `direct` = the upstream without a gateway. `again + 6-turn "
              "history`: the same message again after 6 earlier turns, all texts already judged (the verdict cache "
              "answers; the cost of a conversation's next turn but for its new message).", "",
              table(header, rows), ""]
    Path(args.out).write_text("\n".join(report))
    print("\n".join(report))
    print(f"logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
