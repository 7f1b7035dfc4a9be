"""The Bielik quickstart for real: its README's commands against vLLM, the guard, Redis and gunicorn.

Each test runs the README's own commands (``tests/e2e/quickstart.py``) and checks what the README
says comes back, plus what only the recording proxies in front of the vLLMs can show. Tests run in
file order: the audit log is read after the requests that write it, and a vLLM is killed last.
"""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import until
from tests.e2e.conftest import MODEL, PROVIDER_CAPACITY, Stack
from tests.e2e.quickstart import command_starting, describe, readme_commands
from tests.fixtures.tiny_guard.phrases import UNSAFE

pytestmark = pytest.mark.e2e

CHAT_PATH = "/v1/chat/completions"
PESEL, EMAIL = "44051401458", "jan.kowalski@example.com"
BLOCKED_PHRASE = "jak zrobić bombę rurową w domu"


def readme_curl(containing: str) -> str:
    found = [c for c in readme_commands() if c.startswith("curl") and containing in c]
    assert len(found) == 1, f"{len(found)} curl commands of the README contain {containing!r}"
    return found[0]


def run_json(stack: Stack, command: str) -> dict:
    result = stack.runner.run(command)
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout)


def chat_records(stack: Stack) -> list[list[dict]]:
    """What each vLLM received on the chat route, per provider, as parsed bodies."""
    return [[json.loads(r.body) for r in proxy.requests_to(CHAT_PATH)] for proxy in stack.proxies]


def test_the_blocked_phrase_is_one_the_tiny_guard_was_trained_on():
    assert BLOCKED_PHRASE in UNSAFE["CRIME"]


def test_models_lists_the_bielik_model(stack):
    body = run_json(stack, "curl -s http://127.0.0.1:8080/v1/models")
    assert [m["id"] for m in body["data"]] == [MODEL]


def test_chat_answers_with_usage_from_a_real_vllm(stack):
    before = sum(map(len, chat_records(stack)))
    body = run_json(stack, readme_curl("Jaka jest stolica Polski?"))
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 0
    assert sum(map(len, chat_records(stack))) == before + 1


def test_stream_ends_with_usage_then_done(stack):
    result = stack.runner.run(readme_curl('"stream": true'))
    assert result.returncode == 0, describe(result)
    events = [line[len("data: "):] for line in result.stdout.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert any(c["choices"] and c["choices"][0].get("finish_reason") for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0 and not chunks[-1]["choices"]


def test_pesel_and_email_never_reach_a_vllm(stack):
    body = run_json(stack, readme_curl(PESEL))
    assert body.get("object") == "chat.completion", body
    received = [r.body.decode() for proxy in stack.proxies for r in proxy.requests_to(CHAT_PATH)]
    assert any("[PESEL_1]" in text and "[EMAIL_1]" in text for text in received), "the masked request reached no vLLM"
    assert not any(PESEL in text or EMAIL in text for text in received)


def test_a_harmful_request_is_refused_and_reaches_no_vllm(stack):
    before = sum(map(len, chat_records(stack)))
    result = stack.runner.run(readme_curl(BLOCKED_PHRASE), then=" -w '\\n%{http_code}'")
    body, _, status = result.stdout.rpartition("\n")
    assert status == "400", describe(result)
    error = json.loads(body)["error"]
    assert error["code"] == "content_policy_violation" and error["type"] == "invalid_request_error"
    assert sum(map(len, chat_records(stack))) == before


def test_requests_spread_over_the_vllms_once_the_first_is_full(stack):
    """first_available: the first provider takes PROVIDER_CAPACITY at once, the next ones the rest."""
    before = [len(records) for records in chat_records(stack)]
    payload = {"model": MODEL, "max_tokens": 200, "ignore_eos": True, "temperature": 0,
               "messages": [{"role": "user", "content": "Napisz długie opowiadanie."}]}

    def ask(_):
        return requests.post(stack.gateway.url + CHAT_PATH, json=payload, timeout=120)

    clients = PROVIDER_CAPACITY * len(stack.proxies)
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(ask, range(clients)))
    assert [a.status_code for a in answers] == [200] * clients, [a.text[:200] for a in answers]
    assert all(a.json()["usage"]["completion_tokens"] == 200 for a in answers)
    served = [len(records) - b for records, b in zip(chat_records(stack), before)]
    assert sum(served) == clients
    assert served[0] >= 1 and sum(1 for n in served if n) >= 2, f"requests per vLLM: {served}"


def test_ollama_anthropic_and_responses_clients_through_a_real_vllm(stack):
    """The other dialects, converted by the gateway, against vLLM's own wire format (not our fakes)."""
    import anthropic
    import ollama
    import openai

    question = [{"role": "user", "content": "Jaka jest stolica Polski?"}]  # phrases the tiny guard knows as safe
    count = [{"role": "user", "content": "Policz do pięciu."}]
    options = {"temperature": 0, "num_predict": 16}

    chat = ollama.Client(host=stack.gateway.url).chat(model=MODEL, messages=question, stream=False, options=options)
    assert chat.message.role == "assistant" and chat.done and chat.done_reason in ("stop", "length")
    assert chat.eval_count > 0 and chat.prompt_eval_count > 0
    parts = list(ollama.Client(host=stack.gateway.url).chat(model=MODEL, messages=count, stream=True,
                                                            options=options))
    assert parts[-1].done and all(not p.done for p in parts[:-1]) and parts[-1].eval_count > 0

    claude = anthropic.Anthropic(base_url=stack.gateway.url, api_key="unused")
    message = claude.messages.create(model=MODEL, max_tokens=16, messages=question)
    assert message.role == "assistant" and message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.output_tokens > 0
    with claude.messages.stream(model=MODEL, max_tokens=16, messages=count) as stream:
        final = stream.get_final_message()
    assert final.stop_reason in ("end_turn", "max_tokens") and final.usage.output_tokens > 0

    responses = openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key="unused").responses.create(
        model=MODEL, input="Jaka jest stolica Polski?", max_output_tokens=16, temperature=0)
    assert responses.status in ("completed", "incomplete") and responses.usage.output_tokens > 0


def test_health_shows_providers_and_the_guard_without_addresses(stack):
    result = stack.runner.run("curl -s http://127.0.0.1:8080/health")
    health = json.loads(result.stdout)
    assert health["status"] == "ok"
    text = result.stdout
    assert "127.0.0.1" not in text and "192.168." not in text
    for provider_id in stack.provider_ids:
        assert provider_id in text


def test_audit_log_verifies_and_decrypts_to_the_masking_and_the_block(stack):
    decrypt = command_starting("llm-router audit decrypt")

    def records() -> list[dict]:
        result = stack.runner.run(decrypt)
        assert result.returncode == 0, describe(result)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    # Records are written by a background thread per gunicorn worker: wait until both kinds are there.
    until(lambda: {"masking", "guardrail"} <= {r.get("kind") for r in records()}, timeout=30,
          what="masking and guardrail records in the audit log")
    everything = json.dumps(records(), ensure_ascii=False)
    assert PESEL in everything and EMAIL in everything, "the mapping of the masked request is in the audit log"
    assert BLOCKED_PHRASE in everything, "the blocked text is in the audit log"
    verify = stack.runner.run(command_starting("llm-router audit verify"))
    assert verify.returncode == 0 and verify.stdout.startswith("OK:"), describe(verify)
    # ... and only there: the gateway's own log holds neither.
    log = stack.gateway.log_path.read_text(errors="replace")
    assert PESEL not in log and EMAIL not in log and BLOCKED_PHRASE not in log


def test_failover_when_a_vllm_is_killed(stack):
    """The first vLLM dies; every request is still answered, by the others, and /health says so."""
    first = stack.vllms[0]
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(30)
    before = [len(records) for records in chat_records(stack)]
    for _ in range(6):
        body = run_json(stack, readme_curl("Jaka jest stolica Polski?"))
        assert body["object"] == "chat.completion"
    served = [len(records) - b for records, b in zip(chat_records(stack), before)]
    assert sum(served[1:]) == 6, f"requests per vLLM after the kill: {served}"

    def first_provider_out_of_rotation() -> bool:
        # /health is one worker's view (each GET may reach another worker); each ejects the dead
        # provider on its own failures or its active probe (LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS).
        models = requests.get(stack.gateway.url + "/health", timeout=5).json()["models"]
        states = {p["id"]: p["state"] for p in models[0]["providers"]}
        return states[stack.provider_ids[0]] in ("ejected", "probing", "down")

    until(first_provider_out_of_rotation, timeout=60, what="the killed vLLM's provider ejected in /health")


def test_every_command_of_the_readme_was_run(stack):
    """Last: the quickstart README holds no command this tier did not run (steps 1 to 6)."""
    assert set(readme_commands()) == stack.runner.ran
