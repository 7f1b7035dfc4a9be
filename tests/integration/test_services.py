"""Task services from manifests: listing and validation, a completion service, a summary service
over a long transcript with every prompt inside the flavor's context, hot reload under gunicorn.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests

from llm_router_api.services.chunker import estimate_tokens
from tests.conftest import provider, until

FLAVOR = {"name": "default", "modelName": "bielik", "totalContextLength": 1000, "maxGenerationLength": 100,
          "tokenizerClass": "", "createNewTurnAfter": 120, "summaryTurns": 2, "maxNewTurns": 3}


def _write(directory: Path, name: str, manifest: dict, template: str) -> None:
    (directory / f"{name}.txt").write_text(template, encoding="utf-8")
    (directory / f"{name}.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture
def services_dir(tmp_path) -> Path:
    directory = tmp_path / "services"
    directory.mkdir()
    _write(directory, "ask", {"type": "completion", "name": "ask", "fields": ["question"],
                              "description": {"pl": "Pytanie", "en": "A question"},
                              "flavor": [{"name": "default", "modelName": "bielik", "temperature": 0.1}]},
           'echo:{question} {"format": "json"}')
    _write(directory, "minutes", {"type": "summary", "name": "minutes", "fields": ["transcript"],
                                  "flavor": [FLAVOR]},
           "Summaries so far:\n{summaries}\n\nNew turns:\n{turns}\n\nSummarise.")
    (directory / "broken.json").write_text(json.dumps({"type": "summary", "fields": ["transcript"],
                                                       "flavor": [{"name": "x"}]}))
    (directory / "broken.txt").write_text("x")
    return directory


@pytest.fixture
def served(upstreams, gateway, services_dir):
    up = upstreams(model="private")
    gw = gateway({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                 services_dir=str(services_dir))
    return gw, up


def test_the_listing_shows_each_service_and_each_manifest_left_out_with_its_field(served):
    gw, _ = served
    listing = requests.get(gw.url + "/services", timeout=10).json()
    assert [s["name"] for s in listing["services"]] == ["ask", "minutes"]
    assert listing["services"][0]["flavors"] == [{"name": "default", "model": "bielik"}]
    assert listing["problems"] == ["broken.json: flavor[0].modelName: must name a model of the models-config"]
    assert requests.get(gw.url + "/api/services", timeout=10).json() == listing


def test_a_completion_service_fills_its_template_and_leaves_other_braces(served):
    gw, up = served
    answer = requests.post(gw.url + "/api/services/ask", json={"question": "Która godzina?"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["body"]["response"] == 'Która godzina? {"format": "json"}'
    sent = up.requests[0].json
    assert sent["messages"] == [{"role": "user", "content": 'echo:Która godzina? {"format": "json"}'}]
    assert sent["temperature"] == 0.1 and sent["model"] == "private"


@pytest.mark.parametrize("path,body,status,code", [
    ("/api/services/nope", {}, 404, "service_not_found"),
    ("/api/services/ask", {}, 400, "missing_required_parameter"),
    ("/api/services/ask", {"question": "a", "flavor": "fast"}, 400, "invalid_request"),
    ("/api/services/minutes", {"transcript": "not a list"}, 400, "invalid_type"),
    ("/api/services/minutes", {"transcript": ["   ", ""]}, 400, "cannot_summarize"),
])
def test_bad_service_requests(served, path, body, status, code):
    gw, up = served
    answer = requests.post(gw.url + path, json=body, timeout=10)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert up.requests == []


def _transcript(turns: int) -> list[dict]:
    rng = random.Random(7)
    words = "budżet projekt termin zespół klient raport wdrożenie ryzyko decyzja zadanie plan koszt".split()
    return [{"speaker": rng.choice(["Anna", "Piotr", "Ola"]),
             "text": " ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) + "."} for _ in range(turns)]


def test_a_long_transcript_is_summarised_progressively_every_prompt_within_the_context(served):
    gw, up = served
    transcript = _transcript(200)
    answer = requests.post(gw.url + "/api/services/minutes", json={"transcript": transcript}, timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()["body"]
    prompts = [r.json["messages"][0]["content"] for r in up.requests]
    assert body["calls"] == len(prompts) == len(body["summaries"]) > 10
    assert body["response"] == body["summaries"][-1] and body["token_counter"].startswith("estimate")
    budget = FLAVOR["totalContextLength"] - FLAVOR["maxGenerationLength"]
    assert max(estimate_tokens(p) for p in prompts) <= budget
    assert all(r.json["max_tokens"] == FLAVOR["maxGenerationLength"] for r in up.requests)
    joined = "\n".join(prompts)
    assert all(turn["text"][:30] in joined for turn in transcript)  # every turn reached the model
    # the summaries injected are the last ones made (the fake's summary is "tok0 tok1 ...")
    assert "tok0" not in prompts[0] and "tok0" in prompts[1]


def test_services_come_and_go_without_a_restart_under_gunicorn(upstreams, gateway_process, services_dir):
    up = upstreams(model="private")
    gw = gateway_process({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                         LLM_ROUTER_SERVICES_DIR=str(services_dir), LLM_ROUTER_SERVER_WORKERS_COUNT="2")

    def names() -> list[str]:
        return [s["name"] for s in requests.get(gw.url + "/services", timeout=10).json()["services"]]

    assert names() == ["ask", "minutes"]

    def run(text: str) -> requests.Response:
        return requests.post(gw.url + "/api/services/echo2", json={"text": text}, timeout=10)

    def everywhere(check) -> bool:  # workers re-read the directory on use, within a second of a change
        return all(check() for _ in range(8))

    _write(services_dir, "echo2", {"type": "completion", "fields": ["text"],
                                   "flavor": [{"modelName": "bielik"}]}, "echo:{text}")
    until(lambda: everywhere(lambda: "echo2" in names() and run("raz").status_code == 200),
          what="the new service served by every worker")
    assert run("raz").json()["body"]["response"] == "raz"
    (services_dir / "echo2.txt").write_text("echo:[{text}]", encoding="utf-8")  # the template is read on use
    assert run("dwa").json()["body"]["response"] == "[dwa]"
    (services_dir / "echo2.json").unlink()
    until(lambda: everywhere(lambda: "echo2" not in names() and run("trzy").status_code == 404),
          what="the service gone from every worker")
