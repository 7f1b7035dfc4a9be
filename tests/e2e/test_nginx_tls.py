"""examples/nginx-tls/: the gateway with API keys behind nginx terminating TLS, all real.

A certificate from the example's ``make-cert.sh``, a key from the real CLI, the gateway started
by ``./run-rest-api-gunicorn.sh`` with the example's ``gateway.env``, and nginx run in the
foreground with the example's ``nginx.conf`` (ports, certificate and log paths rewritten into
the test's directory). Clients speak https and verify the server against the self-signed
certificate; they connect from 127.0.0.2, so the address nginx forwards differs from nginx's own.

nginx must be installed (``apt-get install -y nginx-light``): without it these tests fail.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import (REPO_ROOT, free_port, provider, read_env_file, register_secret, stop_process, until,
                            write_config)
from tests.upstreams import FakeUpstream

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "examples" / "nginx-tls"
NGINX_INSTALL = "apt-get install -y nginx-light"
CLIENT_ADDRESS = "127.0.0.2"  # any 127/8 address is this machine; nginx sees this one as the client
TOKEN_DELAY, N_TOKENS = 0.25, 6


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail(f"nginx is not installed; install it with `{NGINX_INSTALL}` (the e2e tier needs it)")
    return found


def example_env() -> dict[str, str]:
    return read_env_file(EXAMPLE / "gateway.env")


def rewrite(text: str, old: str, new: str) -> str:
    assert old in text, f"examples/nginx-tls/nginx.conf no longer contains {old!r}: update this test"
    return text.replace(old, new)


def nginx_conf(tmp: Path, tls: Path, https_port: int, gateway_port: int) -> Path:
    """The example's nginx.conf with this test's ports and paths; everything else as shipped."""
    text = (EXAMPLE / "nginx.conf").read_text()
    text = rewrite(text, "listen 8443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = rewrite(text, "server 127.0.0.1:8080;", f"server 127.0.0.1:{gateway_port};")
    text = rewrite(text, "/etc/llm-router/tls/", f"{tls}/")
    text = rewrite(text, "/var/log/nginx/", f"{tmp}/nginx-")
    # Temporary files in the test's directory too, so that nginx runs as any user.
    temp = "".join(f"    {kind}_temp_path {tmp}/temp-{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    text = rewrite(text, "http {\n", "http {\n" + temp)
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


class Stack:
    def __init__(self, url: str, key: str, ca: Path, gateway_log: Path, upstream: FakeUpstream):
        self.url = url
        self.key = key
        self.ca = ca
        self.gateway_log = gateway_log
        self.upstream = upstream

    def http(self, **kwargs) -> httpx.Client:
        """An https client that trusts only the example's certificate, connecting from CLIENT_ADDRESS."""
        context = ssl.create_default_context(cafile=str(self.ca))
        transport = httpx.HTTPTransport(verify=context, local_address=CLIENT_ADDRESS)
        return httpx.Client(transport=transport, timeout=30, **kwargs)

    def sdk(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key or self.key, http_client=self.http(),
                             max_retries=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx-tls")
    tls = tmp / "tls"
    subprocess.run([str(EXAMPLE / "make-cert.sh"), str(tls)], check=True, capture_output=True, timeout=60)

    upstream = FakeUpstream(token_delay=TOKEN_DELAY, n_tokens=N_TOKENS).start()
    config = write_config(tmp / "models-config.json", {"m": {"providers": [provider(upstream, "up-1")]}})
    gateway_port, https_port = free_port(), free_port()
    gateway_log = tmp / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
    env.update(example_env())
    env.update({
        "LLM_ROUTER_SERVER_PORT": str(gateway_port),
        "LLM_ROUTER_AUTH_SECRET": register_secret(secrets.token_hex(32)),
        "LLM_ROUTER_AUTH_KEYS_FILE": str(tmp / "api-keys.json"),
        "LLM_ROUTER_MODELS_CONFIG": str(config),
        "LLM_ROUTER_RESULTS_DB": str(tmp / "results.sqlite"),
        "LLM_ROUTER_LOG_FILENAME": str(gateway_log),
        "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # this python3
    })
    created = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "keys", "create", "--name", "app1"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    key = register_secret(created.stdout.strip().splitlines()[-1])

    processes = []
    output = open(tmp / "processes.out", "wb")
    try:
        processes.append(subprocess.Popen([str(REPO_ROOT / "run-rest-api-gunicorn.sh")], cwd=REPO_ROOT, env=env,
                                          stdout=output, stderr=subprocess.STDOUT))
        conf = nginx_conf(tmp, tls, https_port, gateway_port)
        checked = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp), "-g", f"pid {tmp}/nginx.pid;"],
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        processes.append(subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp),
                                           "-g", f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-stderr.log;"],
                                          stdout=output, stderr=subprocess.STDOUT))
        running = Stack(f"https://127.0.0.1:{https_port}", key, tls / "fullchain.pem", gateway_log, upstream)

        def serving() -> bool:
            for process in processes:
                assert process.poll() is None, (tmp / "processes.out").read_text(errors="replace")
            try:
                with running.http() as client:
                    return client.get(running.url + "/ping").status_code == 200
            except httpx.TransportError:
                return False

        until(serving, timeout=60, what="the gateway answering through nginx")
        yield running
    finally:
        for process in reversed(processes):
            stop_process(process)
        output.close()
        upstream.stop()


def access_line(stack: Stack, request_id: str) -> str:
    found: list[str] = []

    def logged() -> bool:
        text = stack.gateway_log.read_text(errors="replace") if stack.gateway_log.exists() else ""
        found[:] = [line for line in text.splitlines() if f"request_id={request_id}" in line]
        return bool(found)

    until(logged, what=f"the access line of {request_id}")
    return found[0]


def test_the_certificate_is_checked(stack):
    with httpx.Client(timeout=10) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(stack.url + "/ping")  # the system's CAs do not know the self-signed certificate


def test_a_request_without_a_key_gets_401_in_openai_shape(stack):
    with stack.http() as client:
        response = client.post(stack.url + "/v1/chat/completions",
                               json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] and error["message"]
    with pytest.raises(openai.AuthenticationError):
        stack.sdk(key="sk-llmr-not-a-key").models.list()


def test_a_request_with_the_key_is_answered(stack):
    answer = stack.sdk().chat.completions.create(model="m", messages=[{"role": "user", "content": "Cześć!"}])
    assert answer.choices[0].message.content == " ".join(f"tok{i}" for i in range(N_TOKENS))
    assert answer.model == "m"


def test_a_stream_arrives_chunk_by_chunk_as_the_upstream_writes_it(stack):
    started = time.monotonic()
    arrivals = []
    stream = stack.sdk().chat.completions.create(model="m", stream=True,
                                                 messages=[{"role": "user", "content": "Policz."}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    text = "".join(piece for _, piece in arrivals)
    assert text == " ".join(f"tok{i}" for i in range(N_TOKENS))
    first, last = arrivals[0][0], arrivals[-1][0]
    # The upstream writes a token every TOKEN_DELAY: buffered, all would arrive together at the end.
    assert last - first >= (N_TOKENS - 2) * TOKEN_DELAY, arrivals
    assert first < last - 2 * TOKEN_DELAY, arrivals


def test_the_gateway_logs_the_client_address_nginx_forwarded(stack):
    request_id = f"nginx-tls-{secrets.token_hex(4)}"
    with stack.http() as client:
        response = client.get(stack.url + "/v1/models", headers={
            "Authorization": f"Bearer {stack.key}", "X-Request-ID": request_id,
            "X-Forwarded-For": "198.51.100.7"})  # a forged hop: only nginx's own one is believed
    assert response.status_code == 200
    line = access_line(stack, request_id)
    assert re.search(rf"\bclient={re.escape(CLIENT_ADDRESS)}\b", line), line
    assert "key=app1" in line and stack.key not in line
