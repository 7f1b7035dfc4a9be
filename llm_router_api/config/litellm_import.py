"""Turn a LiteLLM proxy ``config.yaml`` into a models-config.json (``llm-router config import-litellm``).

People come to us from LiteLLM with a file that already says which public names (``gpt-3.5-turbo``,
``text-embedding-ada-002``) go to which local servers. Rewriting it by hand is where mistakes
happen, so the importer carries over everything that has a counterpart here and says, one line
each, what it could not carry. It is a pure function of the parsed YAML (plus, only when asked,
the environment), so the CLI, the tests and the committed example all get the same answer.

Mapping rules:

- Each distinct ``model_name`` becomes one model, keyed by that name (what clients send), in one
  group (``--group``, default ``litellm_models``); ``active_models`` lists them all, in file order.
- Each deployment under it (``model_list`` entries sharing the name: LiteLLM's load balancing)
  becomes one provider:
  - ``api_type`` from the prefix of ``litellm_params.model``: ``hosted_vllm`` -> ``vllm``;
    ``openai``, ``text-completion-openai``, ``lm_studio`` -> ``openai``; ``llamafile`` ->
    ``llama.cpp``; ``ollama``, ``ollama_chat`` -> ``ollama``; ``anthropic`` -> ``anthropic``.
  - ``model_path``: the part after the prefix (``openai/speakleash/Bielik-11B-v2.3-Instruct`` ->
    ``speakleash/Bielik-11B-v2.3-Instruct``), the name the server knows the model by.
  - ``api_host``: ``api_base`` as the server root: a trailing ``/v1`` (``/v1/messages`` for
    Anthropic) is removed, because the gateway adds ``/v1/...`` itself. Ollama without
    ``api_base`` means LiteLLM's default, ``http://localhost:11434``.
  - ``id``: ``host:port`` of the server, so the same server under several models is one provider
    (shared health and capacity); a different server root on the same ``host:port``, or the same
    server twice in one model, gets ``-2``, ``-3``... Stable: it depends only on file order.
  - ``api_token`` from ``api_key``. A literal key is carried as is. ``os.environ/VAR`` is read only
    when ``environ`` is given (``--resolve-env``); otherwise the token is left empty with a warning
    naming VAR. Token values never appear in a message.
  - ``weight`` from ``weight`` (1.0 when absent), ``max_concurrency`` from ``max_parallel_requests``,
    ``input_size`` from ``model_info.max_input_tokens`` (``max_tokens`` is not used: LiteLLM's
    model maps use it for the output limit).
  - ``rpm``, ``tpm``, ``timeout``, ``order`` and other per-deployment parameters have no
    per-provider counterpart: one note per deployment names them and what replaces them.
- Skipped with a warning naming ``model_list[i]`` and its ``model_name``: other providers (``azure``,
  ``bedrock``, ``vertex_ai``...), a model without a provider prefix, wildcard names, an
  OpenAI-compatible deployment without ``api_base`` (LiteLLM would call a cloud API), and an
  ``os.environ/`` ``api_base`` without ``environ``. A model left with no deployment is not written.
- ``router_settings.model_group_alias`` -> the model's ``aliases``.
- ``router_settings.routing_strategy`` -> a suggested ``LLM_ROUTER_BALANCE_STRATEGY``; retries,
  timeouts, cooldowns and Redis -> the ``LLM_ROUTER_*`` variables that do the same.
- ``general_settings.master_key`` -> a note to turn auth on and create keys with
  ``llm-router keys create`` (one key per client, with its own limits). Fallbacks, caching,
  budgets in money and callbacks are named as not carried over.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from ..settings import STRATEGIES
from .loader import ConfigError, parse_models_config

DEFAULT_GROUP = "litellm_models"
ENV_PREFIX = "os.environ/"
OLLAMA_DEFAULT_BASE = "http://localhost:11434"

#: LiteLLM provider prefix -> our api_type.
PROVIDER_TYPES = {
    "hosted_vllm": "vllm",
    "openai": "openai",
    "text-completion-openai": "openai",
    "lm_studio": "openai",
    "llamafile": "llama.cpp",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "anthropic": "anthropic",
}

#: LiteLLM routing_strategy -> (our LLM_ROUTER_BALANCE_STRATEGY, why).
STRATEGY_SUGGESTIONS = {
    "simple-shuffle": ("weighted", "the same shares by weight, in turn instead of at random; "
                                   "the default, least_outstanding, also follows how busy each server is"),
    "least-busy": ("least_outstanding", "the fewest requests in flight, cluster-wide with Redis"),
    "usage-based-routing": ("least_outstanding", "there are no per-provider rpm/tpm counters here; "
                                                 "the least loaded server is the closest"),
    "usage-based-routing-v2": ("least_outstanding", "there are no per-provider rpm/tpm counters here; "
                                                    "the least loaded server is the closest"),
    "latency-based-routing": ("dynamic_weighted", "weights scaled by each server's recent speed"),
    "cost-based-routing": ("least_outstanding", "local servers have no price per token"),
}

#: litellm_params handled by the mapping itself.
_HANDLED_PARAMS = frozenset({"model", "api_base", "api_key", "weight", "max_parallel_requests"})
#: litellm_params with a replacement elsewhere, named in the note.
_PARAM_HINTS = {
    "rpm": "per-key limits: llm-router keys create --rate-limit",
    "tpm": "per-key limits: llm-router keys create --tokens-per-minute",
    "timeout": "LLM_ROUTER_EXTERNAL_TIMEOUT, for all providers",
    "stream_timeout": "LLM_ROUTER_EXTERNAL_TIMEOUT, for all providers",
    "order": "put later-order servers in providers_sleep",
    "max_retries": "LLM_ROUTER_FAILOVER_MAX_ATTEMPTS",
    "num_retries": "LLM_ROUTER_FAILOVER_MAX_ATTEMPTS",
}
#: router_settings keys -> the variable that does the same here.
_ROUTER_VARIABLES = {
    "num_retries": "LLM_ROUTER_FAILOVER_MAX_ATTEMPTS (attempts in all, so retries + 1)",
    "timeout": "LLM_ROUTER_EXTERNAL_TIMEOUT",
    "allowed_fails": "LLM_ROUTER_CIRCUIT_BREAKER_FAILURES",
    "cooldown_time": "LLM_ROUTER_CIRCUIT_BREAKER_COOLDOWN_SECONDS",
    "redis_host": "LLM_ROUTER_REDIS_HOST",
    "redis_port": "LLM_ROUTER_REDIS_PORT",
    "redis_password": "LLM_ROUTER_REDIS_PASSWORD",
}
#: litellm_settings keys -> what to do instead here.
_NO_COUNTERPART = "there is no counterpart"
_OBSERVABILITY = "use the Prometheus metrics at /metrics, the access log and the encrypted audit log"
_LITELLM_SETTINGS = {
    "fallbacks": "failover between a model's providers is built in; a fallback to another model is not "
                 "(list that model's servers in providers_sleep if they can answer the same requests)",
    "context_window_fallbacks": _NO_COUNTERPART,
    "content_policy_fallbacks": "request and response guardrails block instead (LLM_ROUTER_FORCE_GUARDRAIL_*)",
    "cache": "the gateway keeps no response cache",
    "max_budget": "use per-key token budgets: llm-router keys create --token-budget (tokens, not money)",
    "num_retries": "use LLM_ROUTER_FAILOVER_MAX_ATTEMPTS",
    "request_timeout": "use LLM_ROUTER_EXTERNAL_TIMEOUT",
    "success_callback": _OBSERVABILITY,
    "failure_callback": _OBSERVABILITY,
    "callbacks": _OBSERVABILITY,
}


class LiteLLMConfigError(ValueError):
    """The document is not a LiteLLM proxy config at all (one line, for exit status 2)."""


@dataclass(frozen=True)
class Notice:
    """One line for the operator: ``warning`` when something was lost or needs filling in, else ``note``."""

    level: Literal["warning", "note"]
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


@dataclass
class _Import:
    """The state of one import: models in file order, ids given out, what to tell the operator."""

    environ: Mapping[str, str] | None
    models: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    hosts_by_id: dict[str, str] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.notices.append(Notice("warning", text))

    def note(self, text: str) -> None:
        self.notices.append(Notice("note", text))


def import_litellm(document: Any, *, group: str = DEFAULT_GROUP,
                   environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[Notice]]:
    """A LiteLLM proxy config (parsed YAML) as a models-config.json document, and what to tell the operator.

    ``environ``: where ``os.environ/VAR`` references are read from; None leaves them unresolved
    (the default, so that importing never copies a secret the operator did not ask for).
    """
    if not isinstance(document, dict) or not isinstance(document.get("model_list"), list):
        raise LiteLLMConfigError("not a LiteLLM proxy config: no model_list list at the top level")
    if not group or group == "active_models":
        raise LiteLLMConfigError(f"cannot use {group!r} as the group name")
    state = _Import(environ=_with_file_variables(document, environ))
    for index, entry in enumerate(document["model_list"]):
        _deployment(state, index, entry)
    router_settings = _section(document, "router_settings")
    aliases = _aliases(state, router_settings.get("model_group_alias"))
    _router_notes(state, router_settings)
    _litellm_notes(state, _section(document, "litellm_settings"))
    _general_notes(state, _section(document, "general_settings"))
    models = {name: _model(providers, aliases.get(name, [])) for name, providers in state.models.items()}
    return {group: models, "active_models": {group: list(models)}}, state.notices


def validate(config: dict[str, Any]) -> list[str]:
    """Every problem our own loader finds in an imported document (empty when it would be served)."""
    try:
        parse_models_config(to_json(config), source="imported config")
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def to_json(config: dict[str, Any]) -> str:
    """The document as written to disk: stable, indented, UTF-8 names kept readable."""
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def count_tokens(config: dict[str, Any]) -> int:
    """Providers that carry an ``api_token`` (the CLI keeps them off stdout)."""
    return sum(1 for provider in _providers(config) if provider.get("api_token"))


def without_tokens(config: dict[str, Any]) -> dict[str, Any]:
    """A copy with every ``api_token`` emptied."""
    copy = json.loads(json.dumps(config))
    for provider in _providers(copy):
        if provider.get("api_token"):
            provider["api_token"] = ""
    return copy


def _providers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [provider for group, models in config.items() if group != "active_models"
            for model in models.values() for provider in model["providers"]]


def _with_file_variables(document: dict, environ: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """LiteLLM sets the file's ``environment_variables`` before reading the rest; so do we, when resolving."""
    if environ is None:
        return None
    extra = document.get("environment_variables")
    if not isinstance(extra, dict):
        return environ
    return {**environ, **{str(k): str(v) for k, v in extra.items() if v is not None}}


def _section(document: dict, name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _where(index: int, name: Any) -> str:
    return f"model_list[{index}] ({name!r})" if isinstance(name, str) and name else f"model_list[{index}]"


def _deployment(state: _Import, index: int, entry: Any) -> None:
    """One model_list entry: a provider added to its model, or a warning saying why not."""
    name = entry.get("model_name") if isinstance(entry, dict) else None
    where = _where(index, name)
    params = entry.get("litellm_params") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name.strip() or not isinstance(params, dict):
        state.warn(f"skipped {where}: needs a model_name and litellm_params")
        return
    if "*" in name:
        state.warn(f"skipped {where}: wildcard model names are not supported; list each model by name")
        return
    provider = _provider(state, where, params, entry.get("model_info"))
    if provider is None:
        return
    providers = state.models.setdefault(name, [])
    provider["id"] = _provider_id(state, provider["api_host"], {p["id"] for p in providers})
    providers.append(_ordered(provider))
    _unmapped_params(state, where, params)


def _provider(state: _Import, where: str, params: dict, model_info: Any) -> dict[str, Any] | None:
    """The provider for one deployment, or None (with the warning) when it cannot be mapped."""
    model = params.get("model")
    if not isinstance(model, str) or "/" not in model:
        state.warn(f"skipped {where}: litellm_params.model {model!r} has no provider prefix "
                   f"(use one of: {', '.join(sorted(PROVIDER_TYPES))})")
        return None
    prefix, model_path = model.split("/", 1)
    api_type = PROVIDER_TYPES.get(prefix)
    if api_type is None:
        state.warn(f"skipped {where}: provider '{prefix}' has no counterpart here "
                   f"(supported: {', '.join(sorted(PROVIDER_TYPES))})")
        return None
    if not model_path.strip() or "*" in model_path:
        state.warn(f"skipped {where}: litellm_params.model {model!r} names no single model")
        return None
    api_host = _api_host(state, where, params.get("api_base"), api_type)
    if api_host is None:
        return None
    provider: dict[str, Any] = {"api_host": api_host, "api_type": api_type, "model_path": model_path.strip(),
                                "api_token": _token(state, where, params.get("api_key"))}
    provider.update(_numbers(state, where, params, model_info))
    return provider


def _api_host(state: _Import, where: str, api_base: Any, api_type: str) -> str | None:
    """``api_base`` as a server root with a trailing slash, or None (with the warning)."""
    if api_base is None and api_type == "ollama":
        state.note(f"{where}: no api_base; using LiteLLM's default for Ollama, {OLLAMA_DEFAULT_BASE}")
        api_base = OLLAMA_DEFAULT_BASE
    if api_base is None or (isinstance(api_base, str) and not api_base.strip()):
        state.warn(f"skipped {where}: no api_base (LiteLLM would call the provider's cloud API); "
                   f"add the server's URL and import again")
        return None
    if isinstance(api_base, str) and api_base.startswith(ENV_PREFIX):
        variable = api_base[len(ENV_PREFIX):]
        api_base = _from_env(state, variable)
        if not api_base:
            state.warn(f"skipped {where}: api_base comes from ${variable}, "
                       + ("which is not set" if state.environ is not None else "read only with --resolve-env"))
            return None
    if not isinstance(api_base, str):
        state.warn(f"skipped {where}: api_base must be a URL")
        return None
    root = api_base.strip().rstrip("/")
    for suffix in (("/v1/messages", "/v1") if api_type == "anthropic" else ("/v1",)):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    if not _is_http_url(root):
        state.warn(f"skipped {where}: api_base is not an http:// or https:// URL")
        return None
    return root + "/"


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _token(state: _Import, where: str, api_key: Any) -> str:
    """The token to send upstream: a literal key, a resolved ``os.environ/VAR``, or "" (with a warning)."""
    if api_key is None:
        return ""
    if not isinstance(api_key, str):
        state.warn(f"{where}: api_key is not a string; api_token left empty")
        return ""
    if not api_key.startswith(ENV_PREFIX):
        return api_key
    variable = api_key[len(ENV_PREFIX):]
    token = _from_env(state, variable)
    if state.environ is None:
        state.warn(f"{where}: api_key comes from ${variable}; fill in api_token (or import with --resolve-env)")
    elif not token:
        state.warn(f"{where}: api_key comes from ${variable}, which is not set; api_token left empty")
    return token


def _from_env(state: _Import, variable: str) -> str:
    """An ``os.environ/VAR`` value when resolving, else "". Callers name VAR in messages, never the value."""
    return state.environ.get(variable, "") if state.environ is not None else ""


def _numbers(state: _Import, where: str, params: dict, model_info: Any) -> dict[str, Any]:
    """``weight``, ``max_concurrency`` and ``input_size`` where LiteLLM gave valid values."""
    out: dict[str, Any] = {"weight": 1.0}
    weight = params.get("weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            state.warn(f"{where}: weight {weight!r} is not a number >= 0; using 1.0")
        else:
            out["weight"] = float(weight)
    limit = params.get("max_parallel_requests")
    if limit is not None:
        if _positive_int(limit):
            out["max_concurrency"] = limit
        else:
            state.warn(f"{where}: max_parallel_requests {limit!r} is not a positive integer; left unlimited")
    context = model_info.get("max_input_tokens") if isinstance(model_info, dict) else None
    if context is not None:
        if _positive_int(context):
            out["input_size"] = context
        else:
            state.warn(f"{where}: model_info.max_input_tokens {context!r} is not a positive integer; not carried")
    return out


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _provider_id(state: _Import, api_host: str, taken_in_model: set[str]) -> str:
    """``host:port`` of the server; ``-2``, ``-3``... when that id means another server or repeats in the model."""
    parts = urlsplit(api_host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    hostname = parts.hostname or ""
    base = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"
    candidate, n = base, 1
    while candidate in taken_in_model or state.hosts_by_id.get(candidate, api_host) != api_host:
        n += 1
        candidate = f"{base}-{n}"
    state.hosts_by_id[candidate] = api_host
    return candidate


def _ordered(provider: dict[str, Any]) -> dict[str, Any]:
    """Keys in the order llm-router's own examples use, our extensions last."""
    order = ("id", "api_host", "api_token", "api_type", "input_size", "model_path", "weight", "max_concurrency")
    return {key: provider[key] for key in order if key in provider}


def _unmapped_params(state: _Import, where: str, params: dict) -> None:
    """One note naming the deployment's parameters that are not carried over, with their replacement."""
    left = [key for key in params if key not in _HANDLED_PARAMS]
    if not left:
        return
    described = [f"{key} ({_PARAM_HINTS[key]})" if key in _PARAM_HINTS else key for key in left]
    state.note(f"{where}: not carried over: {', '.join(described)}")


def _aliases(state: _Import, raw: Any) -> dict[str, list[str]]:
    """``model_group_alias`` ({alias: model_name} or {alias: {model: name}}) as aliases per model."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        state.warn("router_settings.model_group_alias is not a mapping; no aliases imported")
        return {}
    aliases: dict[str, list[str]] = {}
    for alias, target in raw.items():
        name = target.get("model") if isinstance(target, dict) else target
        if not isinstance(alias, str) or not alias or not isinstance(name, str):
            state.warn(f"router_settings.model_group_alias {alias!r}: not an alias of a model name; skipped")
        elif name not in state.models:
            state.warn(f"router_settings.model_group_alias {alias!r}: model {name!r} was not imported; skipped")
        elif alias in state.models or any(alias in names for names in aliases.values()):
            state.warn(f"router_settings.model_group_alias {alias!r}: the name is already taken; skipped")
        else:
            aliases.setdefault(name, []).append(alias)
    return aliases


def _model(providers: list[dict[str, Any]], aliases: list[str]) -> dict[str, Any]:
    model: dict[str, Any] = {"providers": providers, "providers_sleep": []}
    if aliases:
        model["aliases"] = aliases
    return model


def _router_notes(state: _Import, settings: dict[str, Any]) -> None:
    strategy = settings.get("routing_strategy")
    if isinstance(strategy, str):
        suggestion = STRATEGY_SUGGESTIONS.get(strategy)
        if suggestion:
            ours, why = suggestion
            state.note(f"routing_strategy {strategy}: set LLM_ROUTER_BALANCE_STRATEGY={ours} ({why})")
        else:
            state.note(f"routing_strategy {strategy!r} has no counterpart; LLM_ROUTER_BALANCE_STRATEGY "
                       f"defaults to least_outstanding (choices: {', '.join(STRATEGIES)})")
    for key, variable in _ROUTER_VARIABLES.items():
        if key in settings:
            value = settings[key]
            shown = f"={value}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            state.note(f"router_settings.{key}{shown}: use {variable}")


def _litellm_notes(state: _Import, settings: dict[str, Any]) -> None:
    for key, instead in _LITELLM_SETTINGS.items():
        if key in settings:
            state.note(f"litellm_settings.{key}: not carried over; {instead}")


def _general_notes(state: _Import, settings: dict[str, Any]) -> None:
    if "master_key" in settings:
        state.note("general_settings.master_key: set LLM_ROUTER_AUTH_ENABLED=1 and give each client its own "
                   "key with `llm-router keys create --name NAME` (limits and models per key)")
    if "database_url" in settings:
        state.note("general_settings.database_url: not used; keys live in LLM_ROUTER_AUTH_KEY_STORE "
                   "(file or redis), spend tracking has no counterpart")
