"""Which endpoint group a route belongs to, and which paths need no key.

Groups are what a key's ``endpoints`` allow: ``chat`` (OpenAI chat and completions, the
Responses API, LM Studio's chat), ``embedding`` (embeddings in every dialect), ``anthropic``
(Messages), ``ollama`` (Ollama's routes), ``builtin`` (llm-router's built-in routes such as
``/fast_text_mask``), ``admin`` (health, metrics, API docs when they are not public). Listing
models needs a valid key but no group.
"""

from __future__ import annotations

from typing import Iterable

#: Paths that answer without a key unless LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS says otherwise;
#: ``{prefix}`` is LLM_ROUTER_EP_PREFIX. A trailing ``*`` matches every path that starts so.
DEFAULT_PUBLIC = ("/", "/ping", "{prefix}/ping", "/health", "/version", "/metrics")

_ADMIN = frozenset({"admin"})
_BY_ENDPOINT = {
    "openai.chat": {"chat"}, "openai.completions": {"chat"}, "openai.embeddings": {"embedding"},
    "responses.create": {"chat"},
    "lmstudio.chat_completions": {"chat"}, "lmstudio.completions": {"chat"}, "lmstudio.embeddings": {"embedding"},
}
_BY_BLUEPRINT = {"anthropic": {"anthropic"}, "builtin_masking": {"builtin"}, "builtin_tasks": {"builtin"},
                 "services": {"builtin"},
                 "operations": _ADMIN,
                 "flasgger": _ADMIN}
_OLLAMA_EMBEDDINGS = ("ollama.embed", "ollama.embeddings")


def endpoint_groups(endpoint: str | None) -> frozenset[str]:
    """The groups of a Flask endpoint name (``blueprint.view``); empty: any valid key may call it."""
    if not endpoint:
        return _ADMIN
    if endpoint in _BY_ENDPOINT:
        return frozenset(_BY_ENDPOINT[endpoint])
    blueprint, _, view = endpoint.partition(".")
    if view in ("models", "model"):  # listings of what is served
        return frozenset()
    if blueprint == "ollama":
        if endpoint in _OLLAMA_EMBEDDINGS:
            return frozenset({"ollama", "embedding"})
        return frozenset({"ollama"})
    return frozenset(_BY_BLUEPRINT.get(blueprint, _ADMIN))


class PublicPaths:
    """Paths served without a key: exact paths, or prefixes written with a trailing ``*``."""

    def __init__(self, patterns: Iterable[str], prefix: str):
        expanded = [p.replace("{prefix}", prefix) or "/" for p in patterns]
        self.exact = frozenset(p for p in expanded if not p.endswith("*"))
        self.prefixes = tuple(p[:-1] for p in expanded if p.endswith("*"))

    def __contains__(self, path: str) -> bool:
        return path in self.exact or any(path.startswith(p) for p in self.prefixes)
