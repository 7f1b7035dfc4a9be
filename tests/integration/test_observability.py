"""Metrics, access log lines and request ids, through real servers.

The metrics test runs the real entry point with 2 gunicorn workers and reads ``/metrics`` with
prometheus_client's own parser: the numbers must be the traffic that was sent, whichever worker
served it and whichever answers the scrape.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from llm_router_api.logging_setup import HANDLER_NAME
from tests.conftest import provider, until

N_TOKENS = 8


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def chat(url: str, model: str, *, stream: bool, text: str = "hello there") -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    response = requests.post(url + "/v1/chat/completions", json=body, timeout=30)
    response.content  # read the whole stream
    return response


def test_metrics_under_two_gunicorn_workers_match_the_traffic(upstreams, gateway_process, dead_port):
    up = upstreams(token_delay=0.01, n_tokens=N_TOKENS)
    broken = upstreams(behaviour="fail500")
    gw = gateway_process({"m": {"providers": [provider(dead_port, "dead"), provider(up, "live")]},
                          "broken": {"providers": [provider(broken, "broken")]}},
                         LLM_ROUTER_USE_PROMETHEUS="1", LLM_ROUTER_BALANCE_STRATEGY="first_available",
                         LLM_ROUTER_CIRCUIT_BREAKER_FAILURES="1000000")
    sent = {"json": 0, "stream": 0}

    def batch() -> None:
        with ThreadPoolExecutor(8) as pool:
            for kind, response in pool.map(lambda i: ("stream" if i % 2 else "json",
                                                      chat(gw.url, "m", stream=bool(i % 2))), range(8)):
                assert response.status_code == 200
                sent[kind] += 1

    def workers_seen() -> int:
        return len(set(re.findall(r"\[(\d+)\] llm_router_api\.access", gw.log_text())))

    batch()
    until(lambda: workers_seen() >= 2 or batch() or False, timeout=60, what="both workers serving requests")
    assert chat(gw.url, "nope", stream=False).status_code == 404
    assert chat(gw.url, "broken", stream=False).status_code == 502
    total = sent["json"] + sent["stream"]

    for _ in range(3):  # any worker may answer the scrape; each must see all of it
        samples = scrape(gw.url)
        route = "/v1/chat/completions"
        assert value(samples, "llm_router_requests_total", route=route, model="m", status_class="2xx") == total
        assert value(samples, "llm_router_requests_total", route=route, model="-", status_class="4xx") == 1
        assert value(samples, "llm_router_request_errors_total", code="model_not_found") == 1
        assert value(samples, "llm_router_request_errors_total", model="broken", code="upstream_failed") == 1
        assert value(samples, "llm_router_request_duration_seconds_count", model="m") == total
        assert value(samples, "llm_router_time_to_first_token_seconds_count", model="m", provider="live") == \
            sent["stream"]
        assert value(samples, "llm_router_time_to_first_token_seconds_bucket", model="m", le="+Inf") == sent["stream"]
        assert value(samples, "llm_router_time_to_first_token_seconds_sum", model="m") > 0
        assert value(samples, "llm_router_inter_token_latency_seconds_count", model="m") == sent["stream"]
        assert value(samples, "llm_router_output_tokens_total", model="m", provider="live") == total * N_TOKENS
        assert value(samples, "llm_router_input_tokens_total", model="m", provider="live") == total * 2
        # The dead provider is tried first (first_available) and every request fails over from it.
        assert value(samples, "llm_router_upstream_requests_total", provider="dead", outcome="connect") == total
        assert value(samples, "llm_router_failovers_total", model="m", reason="connect") == total
        assert value(samples, "llm_router_upstream_requests_total", provider="live", outcome="ok") == total
        assert value(samples, "llm_router_in_flight_requests", provider="live") == 0
        assert value(samples, "llm_router_queue_wait_seconds_count", model="m") == 2 * total


def test_metrics_are_off_by_default_and_say_how_to_turn_them_on(gateway, upstreams):
    gw = gateway({"m": {"providers": [provider(upstreams(), "p")]}})
    response = requests.get(gw.url + "/metrics", timeout=5)
    assert response.status_code == 404 and "LLM_ROUTER_USE_PROMETHEUS" in response.json()["error"]["message"]


def test_breaker_state_is_a_gauge(gateway, upstreams):
    broken = upstreams(behaviour="fail500")
    gw = gateway({"m": {"providers": [provider(broken, "p")]}}, use_prometheus=True, circuit_breaker_failures=2)
    for _ in range(2):
        chat(gw.url, "m", stream=False)
    assert value(scrape(gw.url), "llm_router_circuit_breaker_open", provider="p") == 1


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_one_access_line_per_request_with_its_id_and_no_content(gateway, upstreams, log_format):
    gw = gateway({"m": {"providers": [provider(upstreams(n_tokens=4), "p", api_token="sk-upstream-secret")]}},
                 log_format=log_format, log_level="INFO")
    collected = Collected()
    logging.getLogger("llm_router_api.access").addHandler(collected)
    try:
        check_access_lines(gw, collected, log_format)
    finally:
        logging.getLogger("llm_router_api.access").removeHandler(collected)


def check_access_lines(gw, collected: Collected, log_format: str) -> None:
    response = requests.post(gw.v1 + "/chat/completions", headers={"X-Request-ID": "req-42"}, timeout=10,
                             json={"model": "m", "messages": [{"role": "user", "content": "my secret words"}]})
    assert response.headers["X-Request-ID"] == "req-42"
    generated = requests.get(gw.url + "/ping", headers={"X-Request-ID": "bad id; with spaces"}, timeout=5)
    assert re.fullmatch(r"[0-9a-f]{16}", generated.headers["X-Request-ID"])  # not echoed: a new one
    until(lambda: len(collected.records) >= 2, what="two access lines")  # written when each answer closes
    line = next(r for r in collected.records if r.request["request_id"] == "req-42")
    fields = line.request
    assert fields["model"] == "m" and fields["provider"] == "p" and fields["status"] == 200
    assert fields["input_tokens"] == 3 and fields["output_tokens"] == 4 and fields["duration_ms"] > 0
    formatted = line.getMessage()
    (handler,) = [h for h in logging.getLogger("llm_router_api").handlers
                  if h.get_name() == HANDLER_NAME]  # the one configure_logging installed
    handler_output = handler.format(line)
    if log_format == "json":
        assert json.loads(handler_output)["request_id"] == "req-42"
    else:
        assert "request_id=req-42" in handler_output and "provider=p" in handler_output
    for text in (handler_output, formatted):
        assert "secret" not in text  # neither the prompt nor the provider's token
