"""Swagger UI and the OpenAPI document, served by a live gateway, and the gateway held to the document.

- ``/apidocs/`` is Swagger UI's page and ``/apispec.json`` the document it loads.
- Schemathesis (its Python API) sends requests generated from the served document to every
  documented operation of an in-process gateway whose models are served by live fakes of every
  protocol (vLLM, vLLM with the Responses API, Ollama, Anthropic): no answer may be a 5xx, and
  every answer's status, content type, headers and body must be the documented ones.
- Streams are checked too. The document describes a stream body as text (OpenAPI 3.0 has no
  schema for one event) and each event's ``data`` or NDJSON line by the media type's
  ``x-item-schema``; the deserializers registered here validate every item against that schema
  before Schemathesis checks the body.
- The slow tier renders the UI in headless Chromium and keeps a screenshot.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator
from schemathesis.checks import not_a_server_error
from schemathesis.core import deserialization
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from llm_router_api.apidocs import SPEC_ROUTE, UI_ROUTE
from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_ollama import FakeOllama

TOKEN = "sk-upstream-secret"
MODELS = ("m-vllm", "m-responses", "m-ollama", "m-anthropic")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES_PER_OPERATION = 4
BUDGET_SECONDS = 25.0
TOKEN_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


@pytest.fixture
def docs_gateway(gateway, upstreams):
    """A gateway with one model per provider protocol, each on a live fake."""
    fakes = {"m-vllm": ("vllm", upstreams(model="private-vllm")),
             "m-responses": ("vllm", upstreams(model="private-responses", serves_responses=True)),
             "m-ollama": ("ollama", FakeOllama(model="private-ollama").start()),
             "m-anthropic": ("anthropic", FakeAnthropic(model="private-anthropic", api_key=TOKEN).start())}
    models = {name: {"providers": [{"id": f"{name}-1", "api_host": up.url, "api_type": api_type,
                                    "model_path": f"private-{name}", "api_token": TOKEN, "input_size": 4096}]}
              for name, (api_type, up) in fakes.items()}
    try:
        # Generated requests a fake refuses must not eject it for the ones that follow.
        yield gateway(models, circuit_breaker_failures=1_000_000, external_timeout=10, queue_wait_seconds=0,
                      use_prometheus=True)
    finally:
        for name in ("m-ollama", "m-anthropic"):
            fakes[name][1].stop()


def test_apidocs_serves_swagger_ui_and_the_document(docs_gateway):
    page = requests.get(docs_gateway.url + UI_ROUTE, timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in page.text and f'url: "{SPEC_ROUTE}"' in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert requests.get(docs_gateway.url + f"/apidocs/static/{asset}", timeout=5).status_code == 200
    redirect = requests.get(docs_gateway.url + "/apidocs", timeout=5, allow_redirects=False)
    assert redirect.status_code in (301, 308) and redirect.headers["location"].endswith(UI_ROUTE)

    document = requests.get(docs_gateway.url + SPEC_ROUTE, timeout=5)
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    body = document.json()
    assert body["openapi"].startswith("3.0.") and body["info"]["title"] == "llm-router"
    assert {"/v1/chat/completions", "/api/chat", "/v1/messages", "/apidocs/", "/apispec.json"} <= set(body["paths"])


# ----------------------------------------------------------------------------- schemathesis


class StreamItems:
    """Deserializers for event streams and NDJSON that validate each item by ``x-item-schema``."""

    def __init__(self, document: dict, parse_events):
        self.document = document
        self.parse_events = parse_events  # Schemathesis' own SSE deserializer: a list of {"event", "data"}

    def item_schema(self, ctx, status: int, media_type: str) -> dict | None:
        responses = self.document["paths"][ctx.operation.path][ctx.operation.method.lower()]["responses"]
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or {}
        if "$ref" in response:
            response = self.document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        media = response.get("content", {}).get(media_type, {})
        return media.get("x-item-schema")

    def validate(self, ctx, status: int, media_type: str, items: list[str]) -> None:
        schema = self.item_schema(ctx, status, media_type)
        if schema is None:
            raise ValueError(f"no x-item-schema documented for {media_type} with status {status}")
        validator = OAS30Validator({**schema, "components": self.document["components"]})
        for index, item in enumerate(items):
            error = best_match(validator.iter_errors(json.loads(item)))
            if error is not None:
                raise ValueError(f"{media_type} item #{index} violates its x-item-schema at "
                                 f"{list(error.absolute_path)}: {error.message[:500]}\nitem: {item[:500]}")

    def sse(self, ctx, response) -> list[str]:
        data = [event["data"] for event in self.parse_events(ctx, response)]
        self.validate(ctx, response.status_code, "text/event-stream", [d for d in data if d != "[DONE]"])
        return data  # each event's data is text, as the document's per-body schema says

    def ndjson(self, ctx, response) -> str:
        text = response.content.decode("utf-8")
        self.validate(ctx, response.status_code, "application/x-ndjson", [line for line in text.splitlines() if line])
        return text


@pytest.fixture
def stream_items(docs_gateway):
    """Registers the stream deserializers for this test, and puts Schemathesis' own back afterwards (its
    registry is global and has no public way to unregister)."""
    document = requests.get(docs_gateway.url + SPEC_ROUTE, timeout=5).json()
    registry = deserialization._DESERIALIZERS
    saved = {media: registry.get(media) for media in ("text/event-stream", "application/x-ndjson")}
    items = StreamItems(document, saved["text/event-stream"])
    schemathesis.deserializer("text/event-stream")(items.sse)
    schemathesis.deserializer("application/x-ndjson")(items.ndjson)
    yield items
    for media, previous in saved.items():
        if previous is None:
            registry.pop(media, None)
        else:
            registry[media] = previous


def aimed_at_served_models(case, model: str | None) -> None:
    """Most generated model names are not served (404, which is checked too); ``model`` points a case at a
    served one. Token limits are capped: the fakes generate as many tokens as asked for."""
    if model is not None and "model_id" in (case.path_parameters or {}):
        case.path_parameters["model_id"] = model
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    if model is not None and "model" in body:
        body["model"] = model
    for key in TOKEN_LIMITS:
        if isinstance(body.get(key), int) and not isinstance(body[key], bool) and body[key] > 16:
            body[key] = 16
    options = body.get("options")
    if isinstance(options, dict) and isinstance(options.get("num_predict"), int) and options["num_predict"] > 16:
        options["num_predict"] = 16


def documented_example(document: dict, operation) -> dict | None:
    body = document["paths"][operation.path][operation.method.lower()].get("requestBody")
    if body is None:
        return None
    body = document["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[1]]
    return body["content"]["application/json"]["example"]


def streams(document: dict, operation) -> bool:
    ok = document["paths"][operation.path][operation.method.lower()]["responses"]["200"]
    if "$ref" in ok:
        ok = document["components"]["responses"][ok["$ref"].rsplit("/", 1)[1]]
    return any("x-item-schema" in media for media in ok["content"].values())


def example_cases(document: dict, operation):
    """The documented example of the operation, for every model (each provider protocol), streamed
    and not where the operation streams: every dialect x protocol pair, answers and streams."""
    example = documented_example(document, operation)
    has_model = "{model_id}" in operation.path
    parameters = document["paths"][operation.path][operation.method.lower()].get("parameters") or []
    path_examples = {p["name"]: p["example"] for p in parameters if p.get("in") == "path" and "example" in p} or None
    if example is None and not has_model:
        yield operation.Case(path_parameters=path_examples)
        return
    for model in MODELS:
        if example is None:
            yield operation.Case(path_parameters={"model_id": model})
            continue
        for stream in ((False, True) if streams(document, operation) else (None,)):
            body = {**example, "model": model}
            if stream is not None:
                body["stream"] = stream
            yield operation.Case(body=body, media_type="application/json", path_parameters=path_examples)


def test_gateway_answers_as_documented(docs_gateway, stream_items):
    document = stream_items.document
    # from_dict, not from_url: from_url leaves out the operation that serves the document itself.
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values()) > 40
    session = requests.Session()
    started = time.monotonic()
    failures: dict[str, str] = {}

    def call(case) -> None:
        case.call_and_validate(base_url=docs_gateway.url, session=session, checks=CHECKS, timeout=15)

    for operation in operations:
        @given(case=operation.as_strategy(), model=st.sampled_from((None, *MODELS)))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def generated(case, model):
            aimed_at_served_models(case, model)
            call(case)

        try:
            for case in example_cases(document, operation):
                call(case)
            generated()
        except (Exception, BaseExceptionGroup) as exc:  # Schemathesis' FailureGroup is a BaseExceptionGroup
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]  # every operation is tried
        assert time.monotonic() - started < BUDGET_SECONDS, f"over the time budget at {operation.label}"

    assert not failures, "\n\n".join(f"{label}\n{message}" for label, message in failures.items())


# ----------------------------------------------------------------------------- the UI in a browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y chromium"


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"headless Chromium is needed to render Swagger UI and was not found as {CHROMIUM_NAMES}; "
                f"install it with: {INSTALL}")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=10000", "--window-size=1280,2000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


@pytest.mark.slow
def test_swagger_ui_renders_in_headless_chromium(docs_gateway, tmp_path):
    binary = chromium()
    url = docs_gateway.url + UI_ROUTE
    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Swagger UI built the page from the document: its title, tags and operations are in the DOM.
    for text in ("llm-router", "opblock-tag", "/v1/chat/completions", "/api/chat", "/v1/messages", "Ollama"):
        assert text in dom.stdout, f"{text!r} is not in the rendered page"

    screenshot = tmp_path / "swagger-ui.png"
    shot = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", url)
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 30_000, f"{len(png)} bytes: a blank page?"
    print(f"Swagger UI screenshot: {screenshot}")  # pytest keeps the last runs' tmp dirs
