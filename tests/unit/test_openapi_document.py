"""The OpenAPI document: valid OpenAPI 3.0, and in step with the routes the app registers.

Every rule of ``create_app(...).url_map`` has its path and method in the document, and every
documented path and method is a rule of the app (no stale docs), for the default PREFIX and
others. The only rules left out are the ones listed in ``UNDOCUMENTED``, each with its reason.
"""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from llm_router_api.apidocs import SPEC_ROUTE, UI_ROUTE, build_document
from llm_router_api.apidocs.document import ERROR_RESPONSES, REQUEST_BODIES, SUCCESS
from llm_router_api.apidocs.schemas import SCHEMAS
from llm_router_api.app import create_app
from llm_router_api.routes.apidocs import register_apidocs
from llm_router_api.settings import Settings
from tests.conftest import write_config

#: Rules the document leaves out on purpose: static files and pages of the UI, not an API.
UNDOCUMENTED = {
    "/apidocs/static/<path:filename>": "Swagger UI's JavaScript, CSS and images",
    "/apidocs/oauth2-redirect.html": "Swagger UI's OAuth2 redirect page",
    "/apidocs/index.html": "flasgger's old address of the UI page, redirecting to /apidocs/",
}
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these on every rule by itself
PREFIXES = ("/api", "/gw", "/llm/router", "")


def openapi_path(rule: str) -> str:
    """Flask's ``/v1/models/<path:model_id>`` as OpenAPI's ``/v1/models/{model_id}``."""
    return re.sub(r"<(?:[^<>:]*:)?([^<>]*)>", r"{\1}", rule)


def app_operations(app: Flask) -> set[tuple[str, str]]:
    return {(openapi_path(rule.rule), method.lower())
            for rule in app.url_map.iter_rules() if rule.rule not in UNDOCUMENTED
            for method in rule.methods - IMPLICIT_METHODS}


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(prefix: str) -> Flask:
        config = write_config(tmp_path / "models.json", {"m": {"providers": [
            {"id": "p1", "api_host": "http://127.0.0.1:9/", "api_type": "vllm"}]}})
        app = create_app(Settings(models_config=str(config), server_type="flask", provider_monitor_interval_seconds=0,
                                  ep_prefix=prefix, log_level="WARNING"))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["llm_router"].balancing.stop()


@pytest.mark.parametrize("prefix", PREFIXES)
def test_document_is_valid_openapi_3(prefix):
    document = build_document(prefix)
    assert document["openapi"].startswith("3.0.")
    validate(document)  # raises on any violation of the OpenAPI 3.0 schema, unresolvable $refs included


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_route_is_documented_and_every_documented_route_exists(make_app, prefix):
    app = make_app(prefix)
    served, documented = app_operations(app), documented_operations(build_document(prefix))
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the app does not serve"
    assert len(served) > 30


def test_the_default_document_has_every_dialects_routes():
    paths = build_document()["paths"]
    for path, method in [("/v1/chat/completions", "post"), ("/api/v1/chat/completions", "post"),
                         ("/api/chat/completions", "post"), ("/chat/completions", "post"),
                         ("/v1/models/{model_id}", "get"), ("/v1/responses", "post"), ("/v1/messages", "post"),
                         ("/v1/messages/count_tokens", "post"), ("/", "get"), ("/api/tags", "get"),
                         ("/api/ps", "get"), ("/api/version", "get"), ("/api/chat", "post"),
                         ("/api/generate", "post"), ("/api/embed", "post"), ("/api/embeddings", "post"),
                         ("/api/show", "post"), ("/api/v0/models/{model_id}", "get"),
                         ("/api/v0/chat/completions", "post"), ("/ping", "get"), ("/api/ping", "get"),
                         ("/version", "get"), ("/health", "get"), ("/metrics", "get"), (UI_ROUTE, "get"),
                         (SPEC_ROUTE, "get")]:
        assert method in paths[path], (method, path)


def test_shared_embeddings_path_takes_both_bodies_only_when_prefix_is_api():
    shared = build_document("/api")["components"]["requestBodies"]
    operation = build_document("/api")["paths"]["/api/embeddings"]["post"]
    assert operation["requestBody"]["$ref"].endswith("/OllamaOrOpenAIEmbeddingsRequest")
    assert len(shared["OllamaOrOpenAIEmbeddingsRequest"]["content"]["application/json"]["schema"]["oneOf"]) == 2
    other = build_document("/gw")["paths"]
    assert other["/api/embeddings"]["post"]["requestBody"]["$ref"].endswith("/OllamaEmbeddingsRequest")
    assert other["/gw/embeddings"]["post"]["requestBody"]["$ref"].endswith("/EmbeddingRequest")


def test_each_dialect_documents_its_own_error_shape():
    document = build_document()
    responses, paths = document["components"]["responses"], document["paths"]

    def error_schema(path, method, status):
        name = paths[path][method]["responses"][status]["$ref"].rsplit("/", 1)[1]
        return responses[name]["content"]["application/json"]["schema"]

    assert error_schema("/v1/chat/completions", "post", "400") == {"$ref": "#/components/schemas/OpenAIError"}
    assert error_schema("/api/chat", "post", "502") == {"$ref": "#/components/schemas/OllamaError"}
    assert error_schema("/v1/messages", "post", "504") == {"$ref": "#/components/schemas/AnthropicError"}
    assert error_schema("/api/v0/chat/completions", "post", "413") == {"$ref": "#/components/schemas/OpenAIError"}
    for path in ("/v1/chat/completions", "/api/generate", "/v1/messages", "/v1/responses"):
        name = paths[path]["post"]["responses"]["503"]["$ref"].rsplit("/", 1)[1]
        assert responses[name]["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
        assert set(paths[path]["post"]["responses"]) == {"200", "400", "404", "405", "413", "4XX", "502", "503",
                                                         "504"}


@pytest.mark.parametrize("prefix", ("/api", "/gw"))
def test_request_examples_follow_their_schemas(prefix):
    """Swagger UI's "Try it out" starts from these; the integration test sends them to every provider protocol."""
    components = build_document(prefix)["components"]
    for name, body in components["requestBodies"].items():
        media = body["content"]["application/json"]
        OAS30Validator({**media["schema"], "components": components}).validate(media["example"])


def test_operation_ids_are_unique():
    operations = [op for item in build_document()["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))


def test_every_component_is_used_and_every_reference_resolves():
    """No schema, body or answer is defined and left unreferenced (dead documentation); the ones only one
    PREFIX needs (the shared /api/embeddings) are in the document for that PREFIX."""
    defined = {("schemas", name) for name in SCHEMAS} | {("requestBodies", name) for name in REQUEST_BODIES} | \
        {("responses", name) for name in {**SUCCESS, **ERROR_RESPONSES}}
    used = set()
    for prefix in PREFIXES:
        document = build_document(prefix)
        for section, name in set(re.findall(r'"#/components/(\w+)/([^"]+)"', json.dumps(document))):
            assert name in document["components"][section], f"{section}/{name} does not resolve ({prefix!r})"
            used.add((section, name))
    assert defined - used == set(), "components no document refers to"


def test_register_apidocs_serves_the_document_and_adds_no_per_request_hook():
    app = Flask("apidocs-only")
    register_apidocs(app, "/gw")
    assert not any(app.before_request_funcs.values()) and not any(app.after_request_funcs.values())
    client = app.test_client()
    served = client.get(SPEC_ROUTE)
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert served.get_json() == json.loads(json.dumps(build_document("/gw")))
    page = client.get(UI_ROUTE)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert client.get("/apidocs").status_code in (301, 308)
