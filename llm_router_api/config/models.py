"""Typed, immutable view of a models-config.json (llm-router's format plus our optional keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

#: api_type values spoken with the OpenAI wire protocol.
OPENAI_WIRE_TYPES = ("vllm", "openai", "llama.cpp", "localai")
#: api_type values spoken with their own protocol (upstream/ollama_wire.py, anthropic_wire.py).
NATIVE_WIRE_TYPES = ("ollama", "anthropic")
API_TYPES = OPENAI_WIRE_TYPES + NATIVE_WIRE_TYPES


@dataclass(frozen=True)
class ProviderConfig:
    """One upstream server able to serve a model.

    ``api_host``, ``api_token`` and ``model_path`` are private: they reach the upstream and the
    operator, never a client. ``id`` is what logs, ``/health`` and metrics use instead. The same
    ``id`` under several models means the same server, so its health and capacity are shared.
    """

    id: str
    api_host: str
    api_type: str = "vllm"
    api_token: str = field(default="", repr=False)
    model_path: str = ""
    weight: float = 1.0
    input_size: int | None = None
    keep_alive: str | int | None = None
    max_concurrency: int | None = None

    def __repr__(self) -> str:  # never print host or token by accident
        return f"ProviderConfig(id={self.id!r}, api_type={self.api_type!r})"


@dataclass(frozen=True)
class ModelConfig:
    name: str
    group: str
    providers: tuple[ProviderConfig, ...]
    providers_sleep: tuple[ProviderConfig, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def all_providers(self) -> tuple[ProviderConfig, ...]:
        """``providers`` then ``providers_sleep``."""
        return self.providers + self.providers_sleep

    @property
    def context_length(self) -> int | None:
        """The smallest ``input_size`` of the providers: what every one of them can take."""
        sizes = [p.input_size for p in self.all_providers if p.input_size]
        return min(sizes) if sizes else None

    def upstream_name(self, provider: ProviderConfig) -> str:
        """The model name sent to ``provider``: its ``model_path``, else the model's own name."""
        return provider.model_path or self.name


@dataclass(frozen=True)
class ModelsConfig:
    """The active models, reachable by name or alias."""

    models: tuple[ModelConfig, ...]
    by_public_name: Mapping[str, ModelConfig]

    @classmethod
    def of(cls, models: tuple[ModelConfig, ...]) -> "ModelsConfig":
        names: dict[str, ModelConfig] = {}
        for model in models:
            names[model.name] = model
            for alias in model.aliases:
                names[alias] = model
        return cls(models=models, by_public_name=names)

    def resolve(self, public_name: str) -> ModelConfig | None:
        return self.by_public_name.get(public_name)

    def distinct_providers(self) -> list[ProviderConfig]:
        """Each server once (the same id under several models is one server), in config order."""
        seen: dict[str, ProviderConfig] = {}
        for model in self.models:
            for provider in model.all_providers:
                seen.setdefault(provider.id, provider)
        return list(seen.values())

    def public_names(self) -> list[tuple[str, ModelConfig]]:
        """Every name a client may ask for, models first in config order, then aliases."""
        listed = [(m.name, m) for m in self.models]
        listed += [(alias, m) for m in self.models for alias in m.aliases]
        return listed
