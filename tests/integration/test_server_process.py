"""Through the real entry point, in its own process: gunicorn with several workers, or Flask."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests

from tests.conftest import REPO_ROOT, free_port, gateway_env, provider, wait_until_ready
from tests.integration.test_failover import read_two_chunks_and_leave


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_chat_through_gunicorn(upstreams, gateway_process, worker_class):
    up = upstreams(n_tokens=6)
    gw = gateway_process({"m": {"providers": [provider(up, "p1")]}}, LLM_ROUTER_SERVER_WORKER_CLASS=worker_class)
    with openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0) as client:
        chat_both_ways(client)


def chat_both_ways(client):
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).choices
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True))
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 6
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])


def test_concurrent_streams_across_workers(upstreams, gateway_process, dead_port):
    up = upstreams(n_tokens=20, token_delay=0.01)
    gw = gateway_process({"m": {"providers": [provider(dead_port, "dead"), provider(up, "live")]}})

    def one_stream(_):
        response = requests.post(gw.v1 + "/chat/completions", timeout=30, json={
            "model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
        return response.status_code, response.content.endswith(b"data: [DONE]\n\n")

    with ThreadPoolExecutor(60) as pool:
        results = list(pool.map(one_stream, range(120)))
    assert results == [(200, True)] * 120
    assert up.peak_concurrency > 8  # really concurrent, not serialised by the gateway


def test_client_disconnect_frees_the_upstream_at_once(upstreams, gateway_process):
    up = upstreams(token_delay=0.05, n_tokens=400)
    gw = gateway_process({"m": {"providers": [provider(up, "p1")]}})
    read_two_chunks_and_leave(gw.url, "/v1/chat/completions")
    assert up.wait_for_disconnect(5)  # 400 tokens would take 20 s: the gateway hung up on the upstream


def test_logs_carry_provider_ids_never_hosts_or_tokens(upstreams, gateway_process, dead_port):
    up = upstreams(behaviour="fail500")
    gw = gateway_process({"m": {"providers": [
        provider(up, "bielik-a", api_token="sk-secret-token"), provider(dead_port, "bielik-b")]}})
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 502
    log = gw.log_text()
    assert "provider=bielik-a" in log and "provider=bielik-b" in log
    assert "sk-secret-token" not in log and str(up.port) not in log and str(dead_port) not in log


@pytest.mark.parametrize("variables,expected", [
    ({"LLM_ROUTER_SERVER_PORT": "eighty"}, "LLM_ROUTER_SERVER_PORT='eighty': must be an integer"),
    ({"LLM_ROUTER_BALANCE_STRATEGY": "random"}, "LLM_ROUTER_BALANCE_STRATEGY='random'"),
    ({"LLM_ROUTER_MODELS_CONFIG": "/nonexistent/models.json"}, "/nonexistent/models.json: $: cannot read the file"),
])
def test_a_bad_start_stops_with_one_clear_line(tmp_path, variables, expected):
    config = tmp_path / "m.json"
    config.write_text('{"active_models": {}}')
    env = gateway_env(config, free_port(), **variables)
    done = subprocess.run([sys.executable, "-m", "llm_router_api.rest_api"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr


def test_the_readme_run_command_serves_the_example_config(tmp_path):
    """``./run-rest-api-gunicorn.sh`` starts with resources/configs/models-config.json."""
    port = free_port()
    env = gateway_env(REPO_ROOT / "resources/configs/models-config.json", port)
    del env["LLM_ROUTER_MODELS_CONFIG"]  # the script's own default must work
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["./run-rest-api-gunicorn.sh"], cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(url, process, log_path)
            names = [m["id"] for m in requests.get(url + "/v1/models").json()["data"]]
            assert names == ["speakleash/Bielik-11B-v2.3-Instruct", "gpt-3.5-turbo"]
        finally:
            process.terminate()
            process.wait(15)


def test_a_restart_lets_streams_in_flight_finish(upstreams, gateway_process):
    """SIGTERM (a deploy) stops accepting, but the stream already running completes."""
    up = upstreams(n_tokens=30, token_delay=0.05)
    gw = gateway_process({"m": {"providers": [provider(up, "p1")]}}, LLM_ROUTER_SERVER_WORKERS_COUNT="1")
    response = requests.post(gw.v1 + "/chat/completions", stream=True, timeout=30, headers={"Connection": "close"},
                             json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    lines = response.iter_lines()
    assert next(lines).startswith(b"data: ")  # the stream is running
    gw.process.terminate()
    rest = b"\n".join(lines)
    assert rest.rstrip().endswith(b"data: [DONE]") and rest.count(b'"content"') >= 29
    assert gw.process.wait(15) == 0


def test_the_flask_server_type_serves_too(upstreams, gateway_process):
    up = upstreams()
    gw = gateway_process({"m": {"providers": [provider(up, "p1")]}}, LLM_ROUTER_SERVER_TYPE="flask")
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    assert "gunicorn" not in gw.log_text()


def test_body_limits_hold_under_gunicorn_for_chunked_uploads(upstreams, gateway_process):
    from tests.integration.test_openai_api import chunked_body

    up = upstreams()
    gw = gateway_process({"m": {"providers": [provider(up, "p1")]}}, LLM_ROUTER_MAX_REQUEST_BODY_SIZE="1000")
    big = requests.post(gw.v1 + "/chat/completions", data=chunked_body(3000),
                        headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    small = requests.post(gw.v1 + "/chat/completions", data=chunked_body(200),
                          headers={"Content-Type": "application/json"})
    assert small.status_code == 200 and len(up.requests) == 1


def test_a_request_whose_client_left_while_queued_is_not_sent_upstream(upstreams, gateway_process):
    """gthread with one thread: a request queued behind a slow one, whose client hangs up, costs no GPU."""
    import socket
    import threading

    slow, fast = upstreams(behaviour="slow", headers_delay=1.0), upstreams()
    gw = gateway_process({"slow": {"providers": [provider(slow, "slow")]},
                          "fast": {"providers": [provider(fast, "fast")]}},
                         LLM_ROUTER_SERVER_WORKER_CLASS="gthread", LLM_ROUTER_SERVER_THREADS_COUNT="1",
                         LLM_ROUTER_SERVER_WORKERS_COUNT="1")
    blocking = threading.Thread(target=lambda: requests.post(
        gw.v1 + "/chat/completions", json={"model": "slow", "messages": []}, timeout=30))
    blocking.start()
    assert slow.wait_for_requests(1, timeout=10)  # the only thread is busy now

    body = b'{"model":"fast","messages":[]}'
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as impatient:
        impatient.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    # queued behind it, in order: once this one is answered, the impatient one was handled
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "fast", "messages": []},
                         timeout=30).status_code == 200
    blocking.join(30)
    assert len(fast.requests) == 1
    assert "client left before the request was dispatched" in gw.log_text()
