"""Schema components of the OpenAPI document: request and answer bodies of every dialect.

Requests are open (``additionalProperties`` allowed): unknown fields pass through to a provider
of the client's own protocol. Answers list the fields the gateway writes, or that a provider of
the same protocol sends and the gateway relays; they are open too, since servers add fields.
Streams are described per item: each SSE ``data:`` payload or NDJSON line is one of the
``*Chunk`` / ``*Event`` / ``*Response`` schemas named by the media type's ``x-item-schema``.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: Schema | None = None, required: tuple[str, ...] = (), description: str | None = None,
        **extra: Any) -> Schema:
    """An open object (unknown fields allowed, as every protocol here allows them)."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def nullable(schema: Schema) -> Schema:
    """``schema`` or null. OpenAPI 3.0.3: ``nullable`` counts only beside a ``type``, so a union
    takes it on its first branch."""
    for union in ("oneOf", "anyOf"):
        if union in schema:
            first, *rest = schema[union]
            return {**schema, union: [nullable(first), *rest]}
    if "type" not in schema:
        raise ValueError(f"nullable() needs a typed schema or a union, not {schema}")
    return {**schema, "nullable": True}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def const(value: str, description: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "enum": [value]}
    if description:
        schema["description"] = description
    return schema


STRING: Schema = {"type": "string"}
TEXT: Schema = {"type": "string", "minLength": 1}
INTEGER: Schema = {"type": "integer"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
STRINGS: Schema = array(STRING)
STRING_OR_STRINGS: Schema = {"oneOf": [STRING, STRINGS]}
TEXTS_OR_TOKENS: Schema = {"anyOf": [STRING, STRINGS, array(INTEGER), array(array(INTEGER))],
                           "description": "a text, texts, or token ids (a list, or a list of lists)"}
MODEL_NAME: Schema = {"type": "string", "minLength": 1,
                      "description": "A model's public name or alias, as `GET /v1/models` lists it."}
STREAM_FALSE: Schema = {"type": "boolean", "nullable": True, "default": False,
                        "description": "Stream the answer (server-sent events); false or absent: one JSON answer."}
STREAM_TRUE: Schema = {"type": "boolean", "nullable": True, "default": True,
                       "description": "Stream the answer as NDJSON (Ollama's default); false: one JSON object."}

# ----------------------------------------------------------------------------- errors

ERRORS: dict[str, Schema] = {
    "OpenAIError": obj({
        "error": obj({
            "message": STRING,
            "type": {**STRING, "description": "invalid_request_error, upstream_error, service_unavailable, "
                                              "timeout, server_error (or the upstream's own type)"},
            "param": nullable({**STRING, "description": "the request field at fault"}),
            "code": {"anyOf": [nullable(STRING), INTEGER],
                     "description": "invalid_request, missing_model, missing_required_parameter, invalid_type, "
                                    "model_not_found, unknown_url, method_not_allowed, request_too_large, "
                                    "upstream_rejected, upstream_failed, no_provider_available, "
                                    "upstream_timeout, content_policy_violation, guardrail_unavailable (an "
                                    "upstream's own code when relayed)"},
        }, ("message", "type")),
    }, ("error",), "OpenAI's error object (OpenAI, Responses and LM Studio routes)."),
    "OllamaError": obj({"error": STRING}, ("error",), "Ollama's error object (Ollama routes)."),
    "AnthropicError": obj({
        "type": const("error"),
        "error": obj({
            "type": {**STRING, "description": "invalid_request_error, not_found_error, request_too_large, "
                                              "overloaded_error, timeout_error, api_error, ..."},
            "message": STRING,
        }, ("type", "message")),
    }, ("type", "error"), "Anthropic's error object (Anthropic routes)."),
}

# ----------------------------------------------------------------------------- OpenAI

_USAGE = obj({"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT})
_TOOL_CALL = obj({"id": STRING, "type": STRING, "index": INTEGER,
                  "function": obj({"name": STRING, "arguments": STRING})})
_CHOICE_COMMON: Schema = {"index": INTEGER, "finish_reason": nullable(STRING), "logprobs": nullable(ANY_OBJECT)}
_REASONING = {**STRING, "description": "the model's reasoning (vLLM's field), when it thinks"}
_ASSISTANT_MESSAGE = obj({"role": STRING, "content": nullable(STRING), "reasoning_content": nullable(_REASONING),
                          "tool_calls": array(_TOOL_CALL), "refusal": nullable(STRING)}, ("role",))
_OPENAI_ANSWER = {"id": STRING, "created": INTEGER, "model": STRING}
_MAX_TOKENS = {"type": "integer", "minimum": 1, "nullable": True}
_SAMPLING: Schema = {
    "max_tokens": _MAX_TOKENS, "temperature": nullable(NUMBER), "top_p": nullable(NUMBER),
    "n": {"type": "integer", "minimum": 1, "nullable": True}, "stop": nullable(STRING_OR_STRINGS),
    "seed": nullable(INTEGER), "stream": STREAM_FALSE,
    "stream_options": nullable(obj({"include_usage": BOOLEAN})), "user": STRING,
}

OPENAI: dict[str, Schema] = {
    "ChatMessage": obj({
        "role": {**STRING, "description": "system, developer, user, assistant or tool"},
        "content": {"oneOf": [nullable(STRING), array(ANY_OBJECT)],
                    "description": "text, or content parts (text, image_url, ...)"},
        "name": STRING, "tool_calls": array(_TOOL_CALL), "tool_call_id": STRING,
    }, ("role",)),
    "ChatCompletionRequest": obj({
        "model": MODEL_NAME, "messages": array(ref("ChatMessage")), **_SAMPLING,
        "max_completion_tokens": _MAX_TOKENS, "tools": array(ANY_OBJECT), "tool_choice": {},
        "response_format": ANY_OBJECT, "logprobs": nullable(BOOLEAN),
    }, ("model", "messages"), "OpenAI chat request; unknown fields (vLLM's guided_json, ...) pass through."),
    "CompletionRequest": obj({
        "model": MODEL_NAME,
        "prompt": TEXTS_OR_TOKENS,
        "suffix": nullable(STRING), "echo": nullable(BOOLEAN), **_SAMPLING,
    }, ("model", "prompt"), "OpenAI text completion request."),
    "EmbeddingRequest": obj({
        "model": MODEL_NAME, "input": TEXTS_OR_TOKENS,
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1}, "user": STRING,
    }, ("model", "input"), "OpenAI embeddings request."),
    "ChatCompletion": obj({
        **_OPENAI_ANSWER, "object": const("chat.completion"),
        "choices": array(obj({**_CHOICE_COMMON, "message": _ASSISTANT_MESSAGE}, ("index", "message"))),
        "usage": _USAGE,
    }, ("id", "object", "created", "model", "choices")),
    "ChatCompletionChunk": obj({
        **_OPENAI_ANSWER, "object": const("chat.completion.chunk"),
        "choices": array(obj({**_CHOICE_COMMON,
                              "delta": obj({"role": STRING, "content": nullable(STRING),
                                            "reasoning_content": nullable(_REASONING),
                                            "tool_calls": array(_TOOL_CALL)})}, ("index",))),
        "usage": nullable(_USAGE),
    }, ("id", "object", "choices"), "One `data:` event of a chat stream; `choices: []` with usage at the end "
                                    "when `stream_options.include_usage` is set. The stream ends with "
                                    "`data: [DONE]`."),
    "Completion": obj({
        **_OPENAI_ANSWER, "object": const("text_completion"),
        "choices": array(obj({**_CHOICE_COMMON, "text": STRING}, ("index",))),
        "usage": nullable(_USAGE),
    }, ("id", "object", "choices"), "A text completion, or one `data:` event of its stream (same shape)."),
    "Embedding": obj({"object": const("embedding"), "index": INTEGER,
                      "embedding": {"oneOf": [array(NUMBER), STRING],
                                    "description": "floats, or base64 float32 with encoding_format base64"}},
                     ("index", "embedding")),
    "EmbeddingList": obj({"object": const("list"), "model": STRING, "data": array(ref("Embedding")),
                          "usage": _USAGE}, ("object", "data")),
    "Model": obj({"id": STRING, "object": const("model"), "created": INTEGER,
                  "owned_by": {**STRING, "description": "the config group the model is in"}},
                 ("id", "object", "created", "owned_by")),
    "ModelList": obj({"object": const("list"), "data": array(ref("Model"))}, ("object", "data")),
}

# ----------------------------------------------------------------------------- Responses API

RESPONSES: dict[str, Schema] = {
    "ResponsesRequest": obj({
        "model": MODEL_NAME,
        "input": {"oneOf": [STRING, array(obj({"type": STRING, "role": STRING, "content": {}}))],
                  "description": "a user message, or input items: messages, function_call, "
                                 "function_call_output (reasoning items are dropped)"},
        "instructions": nullable(STRING), "tools": array(obj({"type": STRING, "name": STRING})),
        "tool_choice": {}, "parallel_tool_calls": nullable(BOOLEAN),
        "max_output_tokens": _MAX_TOKENS, "temperature": nullable(NUMBER), "top_p": nullable(NUMBER),
        "text": nullable(obj({"format": obj({"type": STRING})})),
        "reasoning": nullable(obj({"effort": nullable(STRING)})), "stream": STREAM_FALSE,
        "metadata": nullable(ANY_OBJECT), "store": nullable(BOOLEAN),
    }, ("model", "input"),
        "OpenAI Responses request. The gateway stores nothing: `previous_response_id`, `conversation`, "
        "`background`, stored `prompt`s, file ids and hosted tools are refused with a 400."),
    "Response": obj({
        "id": STRING, "object": const("response"), "created_at": NUMBER,
        "status": {**STRING, "description": "completed, incomplete, failed, in_progress"},
        "model": STRING, "output": array(obj({"type": STRING}, ("type",))),
        "error": nullable(ANY_OBJECT), "incomplete_details": nullable(ANY_OBJECT),
        "usage": nullable(obj({"input_tokens": COUNT, "output_tokens": COUNT, "total_tokens": COUNT})),
    }, ("id", "object", "status", "model", "output"), "A Responses API response object."),
    "ResponseStreamEvent": obj({"type": {**STRING, "description": "response.created, response.in_progress, "
                                                                 "response.output_item.added, "
                                                                 "response.output_text.delta, ..., "
                                                                 "response.completed, response.incomplete, "
                                                                 "error, response.failed"},
                                "sequence_number": INTEGER, "response": ref("Response")},
                               ("type",), "One event of a Responses stream (its SSE `event:` is the type)."),
}

# ----------------------------------------------------------------------------- Anthropic Messages

_ANTHROPIC_BLOCKS = array(obj({"type": STRING}, ("type",)))

ANTHROPIC: dict[str, Schema] = {
    "AnthropicMessageParams": obj({
        "model": MODEL_NAME, "max_tokens": {"type": "integer", "minimum": 1},
        "messages": array(obj({"role": {"type": "string", "enum": ["user", "assistant"]},
                               "content": {"oneOf": [STRING, _ANTHROPIC_BLOCKS],
                                           "description": "text, or blocks: text, image, tool_use, tool_result, "
                                                          "thinking"}},
                              ("role", "content")), minItems=1),
        "system": {"oneOf": [STRING, _ANTHROPIC_BLOCKS]}, "stream": STREAM_FALSE,
        "stop_sequences": STRINGS, "temperature": NUMBER, "top_p": NUMBER, "top_k": INTEGER,
        "tools": array(obj({"name": STRING, "input_schema": ANY_OBJECT})), "tool_choice": obj({"type": STRING}),
        "metadata": obj({"user_id": STRING}), "thinking": obj({"type": STRING}),
    }, description="The fields of an Anthropic Messages request."),
    "AnthropicMessagesRequest": {"allOf": [ref("AnthropicMessageParams"),
                                           {"required": ["model", "max_tokens", "messages"]}],
                                 "description": "Anthropic Messages request; a provider of api_type anthropic gets "
                                                "it as it came, with the client's anthropic-version and "
                                                "anthropic-beta headers."},
    "AnthropicCountTokensRequest": {"allOf": [ref("AnthropicMessageParams"), {"required": ["model", "messages"]}],
                                    "description": "The Messages request to count (max_tokens optional)."},
    "AnthropicMessage": obj({
        "id": STRING, "type": const("message"), "role": const("assistant"), "model": STRING,
        "content": _ANTHROPIC_BLOCKS, "stop_reason": nullable(STRING), "stop_sequence": nullable(STRING),
        "usage": obj({"input_tokens": COUNT, "output_tokens": COUNT}),
    }, ("id", "type", "role", "model", "content")),
    "AnthropicStreamEvent": obj({"type": {**STRING, "description": "message_start, content_block_start, "
                                                                  "content_block_delta, content_block_stop, "
                                                                  "message_delta, message_stop, ping, error"}},
                                ("type",), "One event of a Messages stream (its SSE `event:` is the type)."),
    "AnthropicTokenCount": obj({"input_tokens": {**COUNT, "description": "an estimate: characters / 4 over "
                                                                         "system, messages and tools"}},
                               ("input_tokens",)),
}

# ----------------------------------------------------------------------------- Ollama

_OLLAMA_TIMING = {name: COUNT for name in ("total_duration", "load_duration", "prompt_eval_count",
                                           "prompt_eval_duration", "eval_count", "eval_duration")}
_OLLAMA_ANSWER = {"model": STRING, "created_at": {**STRING, "format": "date-time"}, "done": BOOLEAN,
                  "done_reason": {**STRING, "description": "stop, length, load, unload, content_filter"},
                  "thinking": STRING, **_OLLAMA_TIMING}
_OLLAMA_COMMON_REQUEST = {"model": MODEL_NAME, "options": ref("OllamaOptions"),
                          "keep_alive": {"oneOf": [STRING, NUMBER], "description": "ignored: providers keep models"}}
_OLLAMA_GENERATION = {**_OLLAMA_COMMON_REQUEST, "stream": STREAM_TRUE,
                      "format": {"oneOf": [const("json"), ANY_OBJECT],
                                 "description": "\"json\", or a JSON schema the answer must follow"},
                      "think": {"oneOf": [BOOLEAN, {"type": "string", "enum": ["low", "medium", "high"]}]}}
_OLLAMA_MODEL = {"name": STRING, "model": STRING, "size": COUNT, "digest": STRING,
                 "details": ref("OllamaModelDetails")}

OLLAMA: dict[str, Schema] = {
    "OllamaOptions": obj({
        **{name: NUMBER for name in ("temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                                     "frequency_penalty")},
        **{name: INTEGER for name in ("top_k", "seed", "num_ctx")},
        "num_predict": {**INTEGER, "description": "most tokens to generate; 0 or negative: no limit"},
        "stop": STRING_OR_STRINGS,
    }, description="Sampling options; num_ctx and other load options reach Ollama providers only."),
    "OllamaChatRequest": obj({
        **_OLLAMA_GENERATION,
        "messages": array(obj({"role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                               "content": STRING, "images": STRINGS, "tool_calls": array(ANY_OBJECT),
                               "tool_name": STRING, "thinking": STRING}, ("role",)),
                          description="empty or absent: Ollama's load request, answered without generating"),
        "tools": array(ANY_OBJECT),
    }, ("model",), "Ollama chat request."),
    "OllamaGenerateRequest": obj({
        **_OLLAMA_GENERATION, "prompt": STRING, "suffix": STRING, "system": STRING, "images": STRINGS,
        "raw": BOOLEAN, "template": STRING, "context": array(INTEGER),
    }, ("model",), "Ollama generate request; no prompt and no images: a load request."),
    "OllamaEmbedRequest": obj({**_OLLAMA_COMMON_REQUEST, "input": {"oneOf": [STRING, array(STRING, minItems=1)]},
                               "truncate": BOOLEAN, "dimensions": {"type": "integer", "minimum": 1}},
                              ("model", "input"), "Ollama embed request."),
    "OllamaEmbeddingsRequest": obj({**_OLLAMA_COMMON_REQUEST, "prompt": STRING}, ("model", "prompt"),
                                   "Ollama's legacy embeddings request (one prompt)."),
    "OllamaShowRequest": obj({"model": MODEL_NAME, "name": {**MODEL_NAME, "description": "older clients' name"}},
                             description="The model to show, by `model` (or `name`).",
                             anyOf=[{"required": ["model"]}, {"required": ["name"]}]),
    "OllamaChatResponse": obj({**_OLLAMA_ANSWER,
                               "message": obj({"role": STRING, "content": STRING, "thinking": STRING,
                                               "tool_calls": array(obj({"id": STRING, "function": obj({
                                                   "name": STRING, "arguments": ANY_OBJECT})}))},
                                              ("role", "content"))},
                              ("model", "created_at", "message", "done"),
                              "A chat answer, or one NDJSON line of its stream (the last has done: true)."),
    "OllamaGenerateResponse": obj({**_OLLAMA_ANSWER, "response": STRING}, ("model", "created_at", "response", "done"),
                                  "A generate answer, or one NDJSON line of its stream."),
    "OllamaEmbedResponse": obj({"model": STRING, "embeddings": array(array(NUMBER)), **_OLLAMA_TIMING},
                               ("model", "embeddings")),
    "OllamaEmbeddingsResponse": obj({"embedding": array(NUMBER)}, ("embedding",)),
    "OllamaModelDetails": obj({"parent_model": STRING, "format": STRING, "family": STRING,
                               "families": nullable(STRINGS), "parameter_size": STRING,
                               "quantization_level": STRING}),
    "OllamaModel": obj({**_OLLAMA_MODEL, "modified_at": STRING}, ("name", "model", "details")),
    "OllamaRunningModel": obj({**_OLLAMA_MODEL, "expires_at": STRING, "size_vram": COUNT, "context_length": COUNT},
                              ("name", "model", "expires_at")),
    "OllamaTags": obj({"models": array(ref("OllamaModel"))}, ("models",)),
    "OllamaRunning": obj({"models": array(ref("OllamaRunningModel"))}, ("models",),
                         "Every served model counts as loaded."),
    "OllamaShowResponse": obj({"license": STRING, "modelfile": STRING, "parameters": STRING, "template": STRING,
                               "details": ref("OllamaModelDetails"),
                               "model_info": obj(description="`llm-router.context_length` is the provider's "
                                                             "input_size"),
                               "capabilities": STRINGS, "modified_at": STRING},
                              ("details", "model_info", "capabilities")),
    "OllamaVersion": obj({"version": {**STRING, "description": "the Ollama version the routes behave like"}},
                         ("version",)),
}

# ----------------------------------------------------------------------------- LM Studio

_LMSTUDIO_EXTRAS = obj({
    "stats": obj({"tokens_per_second": NUMBER, "generation_time": NUMBER, "stop_reason": STRING},
                 ("tokens_per_second", "generation_time", "stop_reason")),
    "model_info": obj({"arch": STRING, "quant": STRING, "format": STRING, "context_length": COUNT}),
    "runtime": obj({"name": STRING, "version": STRING, "supported_formats": STRINGS}),
}, ("stats", "model_info", "runtime"), "What LM Studio adds to a non-streamed answer.")

LMSTUDIO: dict[str, Schema] = {
    "LMStudioModel": obj({"id": STRING, "object": const("model"), "type": STRING, "publisher": STRING,
                          "arch": STRING, "compatibility_type": STRING, "quantization": STRING,
                          "state": STRING, "max_context_length": COUNT}, ("id", "object", "type", "state")),
    "LMStudioModelList": obj({"object": const("list"), "data": array(ref("LMStudioModel"))}, ("object", "data")),
    "LMStudioStats": _LMSTUDIO_EXTRAS,
    "LMStudioChatCompletion": {"allOf": [ref("ChatCompletion"), ref("LMStudioStats")]},
    "LMStudioCompletion": {"allOf": [ref("Completion"), ref("LMStudioStats")]},
}

# ----------------------------------------------------------------------------- operations

_PROVIDER_HEALTH = obj({
    "id": STRING, "role": {"type": "string", "enum": ["primary", "sleep"]}, "api_type": STRING,
    "max_concurrency": nullable(INTEGER),
    "state": {"type": "string", "enum": ["healthy", "ejected", "probing", "down"]},
    "in_flight": {**COUNT, "description": "cluster-wide with Redis"}, "worker_in_flight": COUNT,
    "consecutive_failures": COUNT, "last_error": nullable({**STRING, "description": "an error class"}),
    "served": COUNT, "failed": COUNT,
}, ("id", "role", "api_type", "state", "in_flight"))

OPERATIONS: dict[str, Schema] = {
    "Pong": obj({"response": const("pong")}, ("response",)),
    "Version": obj({"version": STRING}, ("version",)),
    "Health": obj({
        "status": {"type": "string", "enum": ["ok", "degraded"]}, "version": STRING, "strategy": STRING,
        "leases": obj({"backend": STRING, "redis": STRING}), "waiting": COUNT,
        "scope": obj({"worker_pid": INTEGER}), "config_generation": INTEGER,
        "models": array(obj({"name": STRING, "aliases": STRINGS, "available": BOOLEAN,
                             "providers": array(_PROVIDER_HEALTH)}, ("name", "available", "providers"))),
        "guardrails": obj({
            "request": STRINGS, "response": STRINGS, "fail_open": BOOLEAN,
            "guards": {"type": "object", "additionalProperties": obj({
                "state": {"type": "string", "enum": ["ok", "failing", "resting"]},
                "consecutive_failures": COUNT}, ("state",))},
        }, ("request", "response", "fail_open", "guards"), "Only when a guardrail runs: the guards and how they do."),
    }, ("status", "version", "models"), "Each model and provider, as this worker sees them; no hosts or tokens."),
    "OpenAPIDocument": obj({"openapi": STRING, "info": ANY_OBJECT, "paths": ANY_OBJECT},
                           ("openapi", "info", "paths"), "This document."),
}

MASKING: dict[str, Schema] = {
    "FastTextMaskRequest": obj({"text": STRING}, ("text",)),
    "FastTextMaskAnswer": obj({
        "text": {**STRING, "description": "the text with each value found replaced by a numbered placeholder"},
        "entities": array(obj({"placeholder": {**STRING, "example": "[PESEL_1]"}, "entity": STRING},
                              ("placeholder", "entity")), description="which kind of value each placeholder hides"),
    }, ("text", "entities")),
}

_GENERATION = {
    "model_name": {**STRING, "description": "a model of the models-config (or an alias)"},
    "language": {**STRING, "description": "the prompt library's language (pl, en); default LLM_ROUTER_DEFAULT_EP_LANGUAGE"},
    "temperature": NUMBER, "max_new_tokens": INTEGER, "top_p": NUMBER, "top_k": INTEGER, "typical_p": NUMBER,
    "repetition_penalty": NUMBER, "anonymize": {"type": "boolean", "description": "mask personal data (see Masking)"},
    "async": {"type": "boolean", "description": "run in the background: 202 with a task id (GET {PREFIX}/tasks/{id})"},
}
_TURNS = array({"type": "object", "description": '{"user": ..., "assistant": ...} or {"role", "content"}'})
_TEXTS = array(STRING, minItems=1)
TASKS: dict[str, Schema] = {
    "ConversationRequest": obj({**_GENERATION, "user_last_statement": STRING, "historical_messages": _TURNS},
                               ("model_name", "user_last_statement")),
    "ExtendedConversationRequest": obj({**_GENERATION, "user_last_statement": STRING, "historical_messages": _TURNS,
                                        "system_prompt": STRING}, ("model_name", "user_last_statement",
                                                                    "system_prompt")),
    "GenerativeAnswerRequest": obj({**_GENERATION, "question_str": STRING,
                                    "texts": {"oneOf": [_TEXTS, {"type": "object", "additionalProperties":
                                                                 array(STRING)}]},
                                    "doc_name_in_answer": {"type": "boolean"}, "question_prompt": STRING,
                                    "system_prompt": STRING}, ("model_name", "question_str", "texts")),
    "GenerateQuestionsRequest": obj({**_GENERATION, "texts": _TEXTS, "number_of_questions": INTEGER},
                                    ("model_name", "texts")),
    "TextsRequest": obj({**_GENERATION, "texts": _TEXTS}, ("model_name", "texts")),
    "ArticleRequest": obj({**_GENERATION, "text": STRING}, ("model_name", "text")),
    "FullArticleRequest": obj({**_GENERATION, "user_query": STRING, "texts": _TEXTS, "article_type": STRING},
                              ("model_name", "user_query", "texts")),
    "TaskAnswer": obj({"status": {"type": "boolean"}, "body": obj({
        "response": {"description": "the task's result: a text, or a list per input text"},
        "generation_time": {**NUMBER, "description": "seconds"}}, ("response", "generation_time"))},
        ("status", "body"), "llm-router's answer of a built-in task."),
    "TaskSubmitted": obj({"status": {"type": "boolean"}, "body": obj({
        "task_id": STRING, "state": const("queued")}, ("task_id", "state"))}, ("status", "body"),
        "A task accepted to run in the background."),
    "TaskState": obj({"status": {"type": "boolean"}, "body": obj({
        "task_id": STRING, "route": STRING,
        "state": {"type": "string", "enum": ["queued", "running", "done", "failed", "lost"]},
        "created": NUMBER, "finished": nullable(NUMBER),
        "response": {"description": "when done: the task's result"}, "generation_time": NUMBER,
        "error": {"type": "object", "description": "when failed or lost: an OpenAI error object"},
        "status": {**INTEGER, "description": "when failed: the HTTP status the task would have answered"},
    }, ("task_id", "route", "state", "created"))}, ("status", "body"),
        "A task's state from the results database; its result once done."),
    "ServiceList": obj({
        "services": array(obj({"name": STRING, "type": {"type": "string", "enum": ["summary", "completion"]},
                               "fields": STRINGS, "description": {"type": "object"},
                               "flavors": array(obj({"name": STRING, "model": STRING}))}, ("name", "type"))),
        "problems": {**STRINGS, "description": "manifests left out, each with its file and field"},
    }, ("services", "problems"), "The services of LLM_ROUTER_SERVICES_DIR, as now on disk."),
    "ServiceRequest": obj({
        "flavor": {**STRING, "description": "a flavor of the manifest; default its first"},
        "async": {"type": "boolean", "description": "run in the background: 202 with a task id"},
        "anonymize": {"type": "boolean"},
    }, (), "The manifest's fields (a summary service's first field is the transcript: a list of turns) and the "
           "options above."),
}

SCHEMAS: dict[str, Schema] = {**ERRORS, **OPENAI, **RESPONSES, **ANTHROPIC, **OLLAMA, **LMSTUDIO, **OPERATIONS,
                              **MASKING, **TASKS}
