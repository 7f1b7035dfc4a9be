"""Which wire codec speaks to a provider, by its ``api_type``."""

from __future__ import annotations

from ..config.models import ProviderConfig
from .anthropic_wire import AnthropicWire
from .ollama_wire import OllamaWire
from .openai_wire import OpenAIWire
from .origin import Origin

_OPENAI = OpenAIWire()
_BY_TYPE = {"ollama": OllamaWire(), "anthropic": AnthropicWire()}


def wire_for(provider: ProviderConfig):
    """The codec for the provider's api_type (vllm, openai, llama.cpp, localai: OpenAI's)."""
    return _BY_TYPE.get(provider.api_type, _OPENAI)


def family_of(provider: ProviderConfig) -> str:
    """The protocol family: a client's request passes through as it came to its own family."""
    return provider.api_type if provider.api_type in _BY_TYPE else "openai"


def native_path(origin: Origin, path: str) -> str:
    """``path`` from the server root, under an ``api_host`` that may already end in /v1."""
    if origin.base_path.endswith("/v1") and path.startswith("/v1/"):
        return path[len("/v1"):]
    return path
