"""The OpenAPI 3.0 document of every route the gateway registers, for a given ``PREFIX``.

Paths come from the same helpers the route modules use (``path_variants``, Ollama's ``PATHS``),
so an alias added there shows up here. Operations are small: each names its request body and
its answers by ``$ref`` to the shared components, and lists the error statuses it can give in
its dialect's shape. ``tests/unit/test_openapi_document.py`` checks that the document and the
app's URL map agree both ways.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import __version__
from ..routes.ollama import OLLAMA_VERSION, PATHS as OLLAMA_PATHS
from ..routes.openai import path_variants
from .schemas import SCHEMAS, Schema, const, ref

OPENAPI_VERSION = "3.0.3"
UI_ROUTE = "/apidocs/"
SPEC_ROUTE = "/apispec.json"

JSON = "application/json"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
PLAIN = "text/plain"

# ----------------------------------------------------------------------------- error answers

#: The error body of each dialect; ``ollama_or_openai`` is /api/embeddings when PREFIX is /api.
DIALECT_ERRORS: dict[str, Schema] = {
    "openai": ref("OpenAIError"),
    "ollama": ref("OllamaError"),
    "anthropic": ref("AnthropicError"),
    "ollama_or_openai": {"oneOf": [ref("OllamaError"), ref("OpenAIError")]},
}
_RESPONSE_PREFIX = {"openai": "OpenAI", "ollama": "Ollama", "anthropic": "Anthropic",
                    "ollama_or_openai": "OllamaOrOpenAI"}

#: status -> (component name suffix, description)
ERROR_STATUSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "The body is not a JSON object, a required field is missing or of the wrong type, or "
                          "the request asks for what the provider's protocol cannot express (`param` names the "
                          "field), or a request guardrail flagged it (`content_policy_violation`; nothing was sent "
                          "upstream). A provider's own 400 for a request of its protocol is relayed as it came."),
    "404": ("NotFound", "The model is not served (`model_not_found`); on `/metrics`: metrics are off."),
    "405": ("MethodNotAllowed", "Another method than the ones documented for this path (`method_not_allowed`)."),
    "413": ("TooLarge", "The body is over `LLM_ROUTER_MAX_REQUEST_BODY_SIZE` (`request_too_large`)."),
    "4XX": ("UpstreamRejected", "The provider rejected the request (e.g. 401, 422, context too long): its status, "
                                "with its message in this dialect (`upstream_rejected`), or its own body when "
                                "it speaks the client's protocol. Not retried. With API keys on "
                                "(`LLM_ROUTER_AUTH_ENABLED`), also the gateway's own 401 (no or invalid key, "
                                "`invalid_api_key`), 403 (endpoint group or model not allowed, `permission_denied`, "
                                "`model_not_allowed`) and 429 (the key's limit, `rate_limit_exceeded`, with "
                                "`Retry-After` and `X-RateLimit-*`)."),
    "502": ("UpstreamFailed", "Every provider tried failed: refused, reset, 5xx, truncated or unreadable answer "
                              "(`upstream_failed`)."),
    "503": ("NoProvider", "No provider can take the request: all down or ejected, all at `max_concurrency` for "
                          "the whole `LLM_ROUTER_QUEUE_WAIT_SECONDS`, or answering 429 (`no_provider_available`); "
                          "or a guardrail that must judge the request gave no verdict (`guardrail_unavailable`)."),
    "504": ("Timeout", "The last provider tried did not answer within the read timeout (`upstream_timeout`)."),
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (`llm-router keys create`), as OpenAI "
                                                                  "and Ollama clients send it."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "The same key, as Anthropic "
                                                                                    "clients send it."},
}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "integer"}}

PROXIED = ("400", "404", "405", "413", "4XX", "502", "503", "504")  # a request a provider serves
LOCAL_BODY = ("400", "404", "405", "413")  # a body read and answered by the gateway itself
LOOKUP = ("404", "405")
LISTING = ("405",)


def error_response_name(dialect: str, status: str) -> str:
    return _RESPONSE_PREFIX[dialect] + ERROR_STATUSES[status][0]


def _error_responses() -> dict[str, Any]:
    responses = {}
    for dialect, schema in DIALECT_ERRORS.items():
        for status, (_, description) in ERROR_STATUSES.items():
            response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
            if status == "503":
                response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
            responses[error_response_name(dialect, status)] = response
    return responses


ERROR_RESPONSES = _error_responses()


def errors(dialect: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{error_response_name(dialect, status)}"}
            for status in statuses}


# ----------------------------------------------------------------------------- success answers


def _media(schema: Schema) -> dict[str, Any]:
    return {"schema": schema}


def _stream(item: Schema, framing: str) -> dict[str, Any]:
    """A stream's media type: the body is text; ``x-item-schema`` (OpenAPI 3.2's ``itemSchema``) is
    each event's ``data`` or each NDJSON line."""
    return {"schema": {"type": "string", "description": framing}, "x-item-schema": item}


_OPENAI_SSE = ("Server-sent events: `data: <chunk JSON>` events, then `data: [DONE]`. A stream broken "
               "after it started ends with `data: {\"error\": {...}}` and `data: [DONE]`.")
_NAMED_SSE = "Server-sent events, `event: <type>` and `data: <event JSON>` each."
_NDJSON = "One JSON object per line; the last has `done: true`, or is `{\"error\": \"...\"}` if the upstream broke off."


def _ok(description: str, **content: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": content}


def _chat_like(answer: str, chunk: str, what: str) -> dict[str, Any]:
    return _ok(f"{what}: JSON, or a stream when `stream` is true.", **{
        JSON: _media(ref(answer)),
        SSE: _stream({"anyOf": [ref(chunk), ref("OpenAIError")]}, _OPENAI_SSE)})


def _ollama_streamed(answer: str, what: str) -> dict[str, Any]:
    return _ok(f"{what}: an NDJSON stream unless `stream` is false. A load request (nothing to generate) is "
               "answered with one JSON object.", **{
                   NDJSON: _stream({"anyOf": [ref(answer), ref("OllamaError")]}, _NDJSON),
                   JSON: _media(ref(answer))})


SUCCESS: dict[str, Any] = {
    "ChatCompletionOK": _chat_like("ChatCompletion", "ChatCompletionChunk", "The chat completion"),
    "CompletionOK": _chat_like("Completion", "Completion", "The text completion"),
    "EmbeddingsOK": _ok("The embeddings.", **{JSON: _media(ref("EmbeddingList"))}),
    "ModelListOK": _ok("The active models and their aliases.", **{JSON: _media(ref("ModelList"))}),
    "ModelOK": _ok("The model.", **{JSON: _media(ref("Model"))}),
    "ResponseOK": _ok("The response: JSON, or a stream of events when `stream` is true.", **{
        JSON: _media(ref("Response")),
        SSE: _stream({"anyOf": [ref("ResponseStreamEvent"), ref("OpenAIError")]}, _NAMED_SSE)}),
    "AnthropicMessageOK": _ok("The message: JSON, or a stream (`message_start` ... `message_stop`) when `stream` "
                              "is true.", **{JSON: _media(ref("AnthropicMessage")),
                                             SSE: _stream(ref("AnthropicStreamEvent"), _NAMED_SSE)}),
    "OllamaChatOK": _ollama_streamed("OllamaChatResponse", "The chat answer"),
    "OllamaGenerateOK": _ollama_streamed("OllamaGenerateResponse", "The generated text"),
    "LMStudioChatOK": _chat_like("LMStudioChatCompletion", "ChatCompletionChunk", "The chat completion with stats"),
    "LMStudioCompletionOK": _chat_like("LMStudioCompletion", "Completion", "The text completion with stats"),
}


def _ok_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json_ok(schema_name: str, description: str) -> dict[str, Any]:
    return _ok(description, **{JSON: _media(ref(schema_name))})


# ----------------------------------------------------------------------------- request bodies


EXAMPLE_MODEL = "speakleash/Bielik-11B-v2.3-Instruct"
_QUESTION = [{"role": "user", "content": "Jaka jest stolica Polski?"}]
#: A working request per body (Swagger UI's "Try it out" starts from it); the model is README's example.
EXAMPLES: dict[str, dict[str, Any]] = {
    "ChatCompletionRequest": {"messages": [{"role": "system", "content": "Odpowiadaj krótko."}, *_QUESTION],
                              "stream": False},
    "CompletionRequest": {"prompt": "Stolica Polski to", "max_tokens": 16, "stream": False},
    "EmbeddingRequest": {"input": ["Kraków", "Warszawa"]},
    "ResponsesRequest": {"instructions": "Odpowiadaj krótko.", "input": "Jaka jest stolica Polski?",
                         "stream": False},
    "AnthropicMessagesRequest": {"max_tokens": 200, "system": "Odpowiadaj krótko.", "messages": _QUESTION,
                                 "stream": False},
    "AnthropicCountTokensRequest": {"system": "Odpowiadaj krótko.", "messages": _QUESTION},
    "OllamaChatRequest": {"messages": _QUESTION, "stream": False},
    "OllamaGenerateRequest": {"prompt": "Stolica Polski to", "options": {"num_predict": 16}, "stream": False},
    "OllamaEmbedRequest": {"input": ["Kraków", "Warszawa"]},
    "OllamaEmbeddingsRequest": {"prompt": "Kraków"},
    "OllamaShowRequest": {},
}


def _body(schema: Schema, example: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True,
                            "content": {JSON: {"schema": schema, "example": {"model": EXAMPLE_MODEL, **example}}}}
    if description:
        body["description"] = description
    return body


REQUEST_BODIES: dict[str, Any] = {name: _body(ref(name), example) for name, example in EXAMPLES.items()}
REQUEST_BODIES["OllamaOrOpenAIEmbeddingsRequest"] = _body(
    {"oneOf": [ref("OllamaEmbeddingsRequest"),
               {"allOf": [ref("EmbeddingRequest"), {"not": {"required": ["prompt"]}}]}]},
    EXAMPLES["OllamaEmbeddingsRequest"],
    "Ollama's legacy embeddings request, or OpenAI's (a body with `input` and no `prompt`).")

REQUEST_BODIES["FastTextMaskRequest"] = {
    "required": True,
    "content": {JSON: {"schema": ref("FastTextMaskRequest"),
                       "example": {"text": "Mój PESEL to 44051401359, e-mail jan.kowalski@example.pl."}}}}

MODEL_ID = {"name": "model_id", "in": "path", "required": True,
            "description": "The model's public name or alias. It may contain `/` "
                           "(`speakleash/Bielik-11B-v2.3-Instruct`), sent as it is or as `%2F`.",
            "schema": {"type": "string", "minLength": 1}}

# ----------------------------------------------------------------------------- operations


class _Paths:
    """Path items in registration order; the first operation for a path and method wins, as in Flask."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def add(self, method: str, path: str, tag: str, summary: str, responses: dict[str, Any], *,
            body: str | None = None, description: str | None = None, parameters: list | None = None,
            alias_of: str | None = None) -> None:
        """``alias_of``: the canonical path when ``path`` is another address of it (tagged Aliases)."""
        openapi_path = _openapi_path(path)
        item = self.items.setdefault(openapi_path, {})
        if method in item:
            return
        if alias_of is not None and _openapi_path(alias_of) != openapi_path:
            tag, description = "Aliases", f"`{method.upper()} {_openapi_path(alias_of)}` ({tag}) at the address " \
                                          "llm-router and LiteLLM clients call."
        operation: dict[str, Any] = {"tags": [tag], "summary": summary,
                                     "operationId": _operation_id(method, openapi_path)}
        if description:
            operation["description"] = description
        if parameters:
            operation["parameters"] = parameters
        if body:
            operation["requestBody"] = {"$ref": f"#/components/requestBodies/{body}"}
        operation["responses"] = responses
        item[method] = operation


def _openapi_path(flask_rule: str) -> str:
    """``/v1/models/<path:model_id>`` -> ``/v1/models/{model_id}``."""
    return re.sub(r"<(?:[^<>:]*:)?([^<>]*)>", r"{\1}", flask_rule)


def _operation_id(method: str, path: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    return f"{method}_{slug}"


def _openai(paths: _Paths, prefix: str) -> None:
    models = path_variants(prefix, "/models")
    for path in models:
        paths.add("get", path, "OpenAI", "List models", {"200": _ok_ref("ModelListOK"), **errors("openai", LISTING)},
                  alias_of=models[0])
        paths.add("get", f"{path}/<model_id>", "OpenAI", "Get a model",
                  {"200": _ok_ref("ModelOK"), **errors("openai", LOOKUP)}, parameters=[MODEL_ID],
                  alias_of=f"{models[0]}/<model_id>")
    for short, summary, body, ok in (
            ("/chat/completions", "Chat completion", "ChatCompletionRequest", "ChatCompletionOK"),
            ("/completions", "Text completion", "CompletionRequest", "CompletionOK"),
            ("/embeddings", "Embeddings", "EmbeddingRequest", "EmbeddingsOK")):
        variants = path_variants(prefix, short)
        for path in variants:
            if path in OLLAMA_PATHS:  # Ollama's route, which serves OpenAI's body too (see _ollama)
                continue
            paths.add("post", path, "OpenAI", summary, {"200": _ok_ref(ok), **errors("openai", PROXIED)},
                      body=body, alias_of=variants[0])


def _responses(paths: _Paths, prefix: str) -> None:
    variants = path_variants(prefix, "/responses")
    for path in variants:
        paths.add("post", path, "Responses", "Create a response (OpenAI Responses API)",
                  {"200": _ok_ref("ResponseOK"), **errors("openai", PROXIED)}, body="ResponsesRequest",
                  description="Passed through to providers that serve `/v1/responses`; converted to chat for the rest.",
                  alias_of=variants[0])


def _anthropic(paths: _Paths, prefix: str) -> None:
    for root in dict.fromkeys(("", prefix)):
        paths.add("post", f"{root}/v1/messages", "Anthropic", "Create a message (Anthropic Messages)",
                  {"200": _ok_ref("AnthropicMessageOK"), **errors("anthropic", PROXIED)},
                  body="AnthropicMessagesRequest", alias_of="/v1/messages")
        paths.add("post", f"{root}/v1/messages/count_tokens", "Anthropic", "Count input tokens (an estimate)",
                  {"200": _json_ok("AnthropicTokenCount", "The estimated input token count."),
                   **errors("anthropic", LOCAL_BODY)},
                  body="AnthropicCountTokensRequest", alias_of="/v1/messages/count_tokens",
                  description="Characters / 4 over system, messages and tools: no tokenizer of the model is at hand.")


def _ollama(paths: _Paths, prefix: str) -> None:
    shared = f"{prefix}/embeddings" == "/api/embeddings"
    listing = {"405": errors("ollama", LISTING)["405"]}
    paths.add("get", "/", "Ollama", "Ollama is running",
              {"200": _ok("`Ollama is running`, as Ollama answers.",
                          **{PLAIN: _media(const("Ollama is running"))}), **listing})
    paths.add("get", "/api/version", "Ollama", "Ollama version",
              {"200": _json_ok("OllamaVersion", f"The Ollama version the routes behave like ({OLLAMA_VERSION})."),
               **listing})
    paths.add("get", "/api/tags", "Ollama", "List models", {"200": _json_ok("OllamaTags", "The served models."),
                                                           **listing})
    paths.add("get", "/api/ps", "Ollama", "Loaded models",
              {"200": _json_ok("OllamaRunning", "Every served model, as loaded."), **listing})
    paths.add("post", "/api/show", "Ollama", "Model details",
              {"200": _json_ok("OllamaShowResponse", "The model's details; its context length from `input_size`."),
               **errors("ollama", LOCAL_BODY)}, body="OllamaShowRequest")
    paths.add("post", "/api/chat", "Ollama", "Chat",
              {"200": _ok_ref("OllamaChatOK"), **errors("ollama", PROXIED)}, body="OllamaChatRequest")
    paths.add("post", "/api/generate", "Ollama", "Generate",
              {"200": _ok_ref("OllamaGenerateOK"), **errors("ollama", PROXIED)}, body="OllamaGenerateRequest")
    paths.add("post", "/api/embed", "Ollama", "Embed",
              {"200": _json_ok("OllamaEmbedResponse", "The embeddings."), **errors("ollama", PROXIED)},
              body="OllamaEmbedRequest")
    if shared:
        embeddings = {"200": _ok("The embedding (Ollama's body) or the embeddings (OpenAI's).", **{JSON: _media(
            {"oneOf": [ref("OllamaEmbeddingsResponse"), ref("EmbeddingList")]})}),
            **errors("ollama_or_openai", PROXIED)}
        paths.add("post", "/api/embeddings", "Ollama", "Embeddings (Ollama's legacy form, or OpenAI's)", embeddings,
                  body="OllamaOrOpenAIEmbeddingsRequest",
                  description="With PREFIX `/api`, OpenAI's `{PREFIX}/embeddings` is this path: a body with `input` "
                              "and no `prompt` is served as OpenAI's (answer and errors in OpenAI's shape), any "
                              "other as Ollama's.")
    else:
        paths.add("post", "/api/embeddings", "Ollama", "Embeddings (legacy form)",
                  {"200": _json_ok("OllamaEmbeddingsResponse", "The embedding."), **errors("ollama", PROXIED)},
                  body="OllamaEmbeddingsRequest")


def _lmstudio(paths: _Paths) -> None:
    paths.add("get", "/api/v0/models", "LM Studio", "List models",
              {"200": _json_ok("LMStudioModelList", "The served models, with LM Studio's fields."),
               **errors("openai", LISTING)})
    paths.add("get", "/api/v0/models/<model_id>", "LM Studio", "Get a model",
              {"200": _json_ok("LMStudioModel", "The model, with LM Studio's fields."), **errors("openai", LOOKUP)},
              parameters=[MODEL_ID])
    paths.add("post", "/api/v0/chat/completions", "LM Studio", "Chat completion",
              {"200": _ok_ref("LMStudioChatOK"), **errors("openai", PROXIED)}, body="ChatCompletionRequest")
    paths.add("post", "/api/v0/completions", "LM Studio", "Text completion",
              {"200": _ok_ref("LMStudioCompletionOK"), **errors("openai", PROXIED)}, body="CompletionRequest")
    paths.add("post", "/api/v0/embeddings", "LM Studio", "Embeddings",
              {"200": _ok_ref("EmbeddingsOK"), **errors("openai", PROXIED)}, body="EmbeddingRequest")


def _masking(paths: _Paths, prefix: str) -> None:
    paths.add("post", f"{prefix}/fast_text_mask", "Masking", "Mask personal data in a text",
              {"200": _json_ok("FastTextMaskAnswer", "The masked text."), **errors("openai", LOCAL_BODY)},
              body="FastTextMaskRequest",
              description="The configured masking pipeline (`LLM_ROUTER_MASKING_STRATEGY_PIPELINE`) on one text; "
                          "nothing is sent to a model. Originals are never in the answer.")


TASK_ROUTES = {  # route -> (request schema, summary)
    "conversation_with_model": ("ConversationRequest", "Chat with a model (the library's system prompt)"),
    "extended_conversation_with_model": ("ExtendedConversationRequest", "Chat with your own system prompt"),
    "generative_answer": ("GenerativeAnswerRequest", "Answer a question from context passages"),
    "generate_questions": ("GenerateQuestionsRequest", "Questions about each text"),
    "translate": ("TextsRequest", "Translate each text into Polish"),
    "simplify_text": ("TextsRequest", "Rewrite each text in plain language"),
    "generate_article_from_text": ("ArticleRequest", "A short article from a text"),
    "create_full_article_from_texts": ("FullArticleRequest", "One article from several texts"),
}
_MODEL = "speakleash/Bielik-11B-v2.3-Instruct"
TASK_EXAMPLES = {
    "ConversationRequest": {"model_name": _MODEL, "user_last_statement": "A jutro?", "language": "pl",
                            "historical_messages": [{"user": "Jaka dziś pogoda?", "assistant": "Słonecznie."}]},
    "ExtendedConversationRequest": {"model_name": _MODEL, "system_prompt": "Odpowiadaj krótko.",
                                    "user_last_statement": "Co to jest PESEL?"},
    "GenerativeAnswerRequest": {"model_name": _MODEL, "question_str": "Kiedy otwarto biuro?",
                                "texts": {"kronika.txt": ["Biuro otwarto w 2019 roku."]}, "doc_name_in_answer": True},
    "GenerateQuestionsRequest": {"model_name": _MODEL, "texts": ["Wisła jest najdłuższą rzeką Polski."],
                                 "number_of_questions": 2},
    "TextsRequest": {"model_name": _MODEL, "texts": ["The meeting is moved to Friday."], "language": "en"},
    "ArticleRequest": {"model_name": _MODEL, "text": "Rada miasta przyjęła budżet na 2027 rok."},
    "FullArticleRequest": {"model_name": _MODEL, "user_query": "Podsumuj tydzień w mieście",
                           "texts": ["Otwarto nowy most.", "Ruszył remont dworca."], "article_type": "news"},
}
for _schema, _example in TASK_EXAMPLES.items():
    REQUEST_BODIES[_schema] = {"required": True, "content": {JSON: {"schema": ref(_schema), "example": _example}}}


def _tasks(paths: _Paths, prefix: str) -> None:
    for route, (schema, summary) in TASK_ROUTES.items():
        paths.add("post", f"{prefix}/{route}", "Tasks", summary,
                  {"200": _json_ok("TaskAnswer", "The task's result."),
                   "202": _json_ok("TaskSubmitted", 'With `"async": true`: the task runs in the background.'),
                   **errors("openai", PROXIED)}, body=schema,
                  description="llm-router's built-in task: prompts from `LLM_ROUTER_PROMPTS_DIR` in the request's "
                              "`language`, sent to `model_name` as a chat (keys, masking and guardrails apply).")
    paths.add("get", f"{prefix}/tasks/<task_id>", "Tasks", "A background task's state and result",
              {"200": _json_ok("TaskState", "The task, from the results database (`LLM_ROUTER_RESULTS_DB`)."),
               **errors("openai", LOOKUP)},
              parameters=[{"name": "task_id", "in": "path", "required": True, "description": "the id a 202 gave",
                           "schema": {"type": "string"}, "example": "5f0c8a9e2b7d4c1e9a3b6d8f0e1c2a4b"}])


REQUEST_BODIES["ServiceRequest"] = {"required": True, "content": {JSON: {"schema": ref("ServiceRequest"), "example": {
    "transcript": [{"speaker": "Anna", "text": "Zaczynamy od budżetu."}, {"speaker": "Piotr", "text": "Zgoda."}]}}}}


def _services(paths: _Paths, prefix: str) -> None:
    for path in dict.fromkeys(("/services", f"{prefix}/services")):
        paths.add("get", path, "Tasks", "Task services (manifests)",
                  {"200": _json_ok("ServiceList", "Every service and every manifest left out."),
                   **errors("openai", LISTING)}, alias_of="/services")
    paths.add("post", f"{prefix}/services/<name>", "Tasks", "Run a task service",
              {"200": _json_ok("TaskAnswer", "The service's result (summaries: also `summaries`, `calls`, "
                                             "`degraded`, `token_counter`)."),
               "202": _json_ok("TaskSubmitted", 'With `"async": true`: the task runs in the background.'),
               **errors("openai", PROXIED)}, body="ServiceRequest",
              parameters=[{"name": "name", "in": "path", "required": True, "description": "the manifest's name",
                           "schema": {"type": "string"}, "example": "cra"}],
              description="A service of `LLM_ROUTER_SERVICES_DIR` (`<name>.json` + `<name>.txt`, re-read on "
                          "change). A `summary` service summarises its transcript progressively within the "
                          "flavor's context; a `completion` service fills its template and asks once.")


def _operations(paths: _Paths, prefix: str) -> None:
    for path in dict.fromkeys(("/ping", f"{prefix}/ping")):
        paths.add("get", path, "Operations", "Liveness", {"200": _json_ok("Pong", "The gateway is up."),
                                                          **errors("openai", LISTING)}, alias_of="/ping")
    paths.add("get", "/version", "Operations", "Gateway version",
              {"200": _json_ok("Version", "The gateway's version."), **errors("openai", LISTING)})
    paths.add("get", "/health", "Operations", "Health of every model and provider",
              {"200": _json_ok("Health", "`status` is `degraded` when a model has no usable provider, Redis "
                                         "is unreachable, or a guard is resting while failing closed."),
               **errors("openai", LISTING)},
              description="Provider state is this worker's view; `in_flight` is cluster-wide with Redis.")
    paths.add("get", "/metrics", "Operations", "Prometheus metrics",
              {"200": _ok("Prometheus text exposition.", **{PLAIN: _media({"type": "string"})}),
               **errors("openai", LOOKUP)},
              description="404 unless `LLM_ROUTER_USE_PROMETHEUS` is on.")
    paths.add("get", UI_ROUTE, "Docs", "Swagger UI",
              {"200": _ok("The Swagger UI page over this document.", **{"text/html": _media({"type": "string"})}),
               **errors("openai", LISTING)}, description="`/apidocs` redirects here.")
    paths.add("get", SPEC_ROUTE, "Docs", "This OpenAPI document",
              {"200": _json_ok("OpenAPIDocument", "The OpenAPI document Swagger UI shows."),
               **errors("openai", LISTING)})


_DESCRIPTION = """A self-hosted, OpenAI-compatible gateway in front of many LLM servers. Clients speak their own \
dialect (OpenAI, the Responses API, Anthropic Messages, Ollama, LM Studio) and any client works with any provider.

**Errors** come in the client's dialect: OpenAI, Responses and LM Studio routes answer `{"error": {"message", \
"type", "param", "code"}}`, Ollama routes `{"error": "..."}`, Anthropic routes `{"type": "error", "error": \
{"type", "message"}}`. Statuses are the same in every dialect. A path no route serves answers 404 (`unknown_url`).

**Streams**: OpenAI-family and Anthropic routes stream server-sent events (`text/event-stream`), Ollama routes \
NDJSON (`application/x-ndjson`). Each stream's `x-item-schema` describes one event's data or one line.

**Paths**: the OpenAI routes also answer under `{PREFIX}/v1/...`, `{PREFIX}/...` and the short forms; this \
document lists them with PREFIX `%s`. Unknown request fields pass through to providers of the client's protocol.

**Masking**: with `LLM_ROUTER_FORCE_MASKING` on, or `"anonymize": true` in a request body, personal data in what \
people wrote is replaced by placeholders such as `[PESEL_1]` before the request leaves the gateway, and put back \
in the answer (streams too)."""


def _without_unused(components: dict[str, dict], paths: dict) -> dict[str, dict]:
    """The components something refers to (the Ollama-only embeddings body is unused when PREFIX is /api)."""
    components = {section: dict(items) for section, items in components.items()}
    while True:
        text = json.dumps([paths, components])
        unused = [(section, name) for section, items in components.items() for name in items
                  if f'"#/components/{section}/{name}"' not in text]
        if not unused:
            return components
        for section, name in unused:
            del components[section][name]


def build_document(prefix: str = "/api") -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route ``create_app`` registers with ``ep_prefix`` = ``prefix``."""
    paths = _Paths()
    _openai(paths, prefix)
    _responses(paths, prefix)
    _anthropic(paths, prefix)
    _ollama(paths, prefix)
    _lmstudio(paths)
    _masking(paths, prefix)
    _tasks(paths, prefix)
    _services(paths, prefix)
    _operations(paths, prefix)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "llm-router", "version": __version__, "description": _DESCRIPTION % (prefix or "(none)")},
        "tags": [{"name": name, "description": text} for name, text in (
            ("OpenAI", "OpenAI's API: chat, completions, embeddings, models"),
            ("Responses", "OpenAI's Responses API"),
            ("Anthropic", "Anthropic Messages (Claude Code, the anthropic SDK)"),
            ("Ollama", "Ollama's API (Open WebUI, the ollama client)"),
            ("LM Studio", "LM Studio's REST API (`/api/v0`)"),
            ("Masking", "Personal data masking (llm-router's built-in route)"),
            ("Tasks", "llm-router's built-in tasks: translate, simplify, questions, articles, answers, conversation"),
            ("Operations", "Liveness, version, health, metrics"),
            ("Docs", "This document and its Swagger UI"),
            ("Aliases", "The same operations at the addresses llm-router and LiteLLM users call: "
                        "`{PREFIX}/v1/...`, `{PREFIX}/...` and the short forms"))],
        "paths": paths.items,
        "components": _without_unused({
            "schemas": SCHEMAS,
            "requestBodies": REQUEST_BODIES,
            "responses": {**SUCCESS, **ERROR_RESPONSES},
            "headers": {"RetryAfter": RETRY_AFTER},
        }, paths.items) | {"securitySchemes": SECURITY_SCHEMES},
        # Keys are needed only with LLM_ROUTER_AUTH_ENABLED; {} keeps every operation callable without one.
        "security": [{}, {"bearer": []}, {"apiKey": []}],
    }
