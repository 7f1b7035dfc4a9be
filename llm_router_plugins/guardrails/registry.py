"""Guards by name, as ``LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_*`` names them.

Both speak the guard service's API; each has its own route there and its own host variable.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .base import PostJson
from .cache import VerdictCache
from .pipeline import GuardrailPipeline, Observe
from .service_guard import ServiceGuard

#: name -> the variable that says where its service runs
GUARDRAIL_HOST_VARIABLES: dict[str, str] = {
    "sojka_guard": "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST",
    "nask_guard": "LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST",
}
GUARDRAIL_NAMES: tuple[str, ...] = tuple(GUARDRAIL_HOST_VARIABLES)


def endpoint_url(name: str, host: str) -> str:
    """The guard's URL from its host variable: a server root, or (llm-router's ``..._HOST_EP``)
    the full endpoint already."""
    host = host.rstrip("/")
    route = f"/api/guardrails/{name}"
    return host if host.endswith(route) else host + route


def build_pipeline(names: Sequence[str], hosts: Mapping[str, str], post_json: PostJson, *, timeout: float,
                   rest_seconds: float = 0.0, cache: VerdictCache | None = None,
                   observe: Observe | None = None) -> GuardrailPipeline:
    guards = [ServiceGuard(name, endpoint_url(name, hosts[name]), post_json, timeout=timeout,
                           rest_seconds=rest_seconds) for name in names]
    return GuardrailPipeline(guards, cache, observe)
