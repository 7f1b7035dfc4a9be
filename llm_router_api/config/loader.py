"""Read and validate models-config.json, reporting every problem with its JSON path.

The format is llm-router's, read as is; unknown keys are ignored so configs written for other
versions keep loading. Validation collects all problems before failing, because an operator
fixing a config wants the whole list at once (``llm-router config check``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..upstream.origin import Origin
from .models import API_TYPES, ModelConfig, ModelsConfig, ProviderConfig

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(ValueError):
    """The file cannot be served; ``problems`` lists every reason with its JSON path."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        first = problems[0] if problems else "invalid"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{source}: {first}{more}")


def load_models_config(path: str) -> ModelsConfig:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(path, [Problem("$", f"cannot read the file ({exc.strerror or exc})")]) from None
    return parse_models_config(raw, source=path)


def parse_models_config(raw: bytes | str, *, source: str = "models-config.json") -> ModelsConfig:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [Problem("$", f"not valid JSON ({exc})")]) from None
    validator = _Validator()
    models = validator.document(document)
    if validator.problems:
        raise ConfigError(source, validator.problems)
    return ModelsConfig.of(tuple(models))


def _key(parent: str, key: str) -> str:
    return f"{parent}.{key}" if _IDENTIFIER.match(key) else f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._hosts_by_id: dict[str, tuple[str, str]] = {}

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def document(self, doc: Any) -> list[ModelConfig]:
        if not isinstance(doc, dict):
            self.fail("$", "the top level must be an object of model groups and active_models")
            return []
        active = doc.get("active_models")
        if not isinstance(active, dict):
            self.fail("$.active_models", "missing, or not an object of {group: [model names]}")
            return []
        models: list[ModelConfig] = []
        public_names: dict[str, str] = {}
        for group, names in active.items():
            group_path = _key("$.active_models", group)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.fail(group_path, "must be a list of model names")
                continue
            definitions = doc.get(group)
            if group == "active_models" or not isinstance(definitions, dict):
                self.fail(group_path, f"names a group '{group}' that is not defined at the top level")
                continue
            for index, name in enumerate(names):
                if name not in definitions:
                    self.fail(f"{group_path}[{index}]", f"model '{name}' is not defined in group '{group}'")
                    continue
                model = self.model(_key(_key("$", group), name), group, name, definitions[name])
                if model is None:
                    continue
                for public in (model.name, *model.aliases):
                    if public in public_names:
                        self.fail(_key(_key("$", group), name),
                                  f"name '{public}' is already served by {public_names[public]}")
                    public_names[public] = _key(_key("$", group), name)
                models.append(model)
        return models

    def model(self, path: str, group: str, name: str, spec: Any) -> ModelConfig | None:
        if not isinstance(spec, dict):
            self.fail(path, "must be an object with a providers list")
            return None
        before = len(self.problems)
        providers = self.providers(f"{path}.providers", spec.get("providers"), required=True)
        sleeping = self.providers(f"{path}.providers_sleep", spec.get("providers_sleep", []), required=False)
        seen: set[str] = set()
        for list_name, group_providers in (("providers", providers), ("providers_sleep", sleeping)):
            for index, provider in enumerate(group_providers):
                if provider.id in seen:
                    self.fail(f"{path}.{list_name}[{index}].id", f"'{provider.id}' appears twice in this model")
                seen.add(provider.id)
        if not providers and not sleeping and len(self.problems) == before:
            self.fail(f"{path}.providers", "an active model needs at least one provider")
        aliases = spec.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            self.fail(f"{path}.aliases", "must be a list of non-empty names")
            aliases = []
        if len(self.problems) > before:
            return None
        return ModelConfig(name=name, group=group, providers=tuple(providers),
                           providers_sleep=tuple(sleeping), aliases=tuple(aliases))

    def providers(self, path: str, items: Any, *, required: bool) -> list[ProviderConfig]:
        if items is None and not required:
            return []
        if not isinstance(items, list):
            self.fail(path, "must be a list of providers")
            return []
        parsed = [self.provider(f"{path}[{i}]", item) for i, item in enumerate(items)]
        return [p for p in parsed if p is not None]

    def provider(self, path: str, spec: Any) -> ProviderConfig | None:
        if not isinstance(spec, dict):
            self.fail(path, "must be an object")
            return None
        before = len(self.problems)
        provider_id = self.string(path, spec, "id", required=True)
        api_host = self.string(path, spec, "api_host", required=True)
        if api_host:
            try:
                Origin.of(api_host)  # the same parser the upstream client uses
            except ValueError:
                self.fail(f"{path}.api_host", "must be an http:// or https:// URL of the server root")
        api_type = self.string(path, spec, "api_type", required=False) or "vllm"
        if api_type not in API_TYPES:
            self.fail(f"{path}.api_type", f"must be one of: {', '.join(API_TYPES)}")
        weight = spec.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            self.fail(f"{path}.weight", "must be a number >= 0 (a relative weight; 0 drains the provider)")
        input_size = spec.get("input_size")
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int)
                                       or input_size < 1):
            self.fail(f"{path}.input_size", "must be a positive integer (the context length)")
        max_concurrency = spec.get("max_concurrency")
        if max_concurrency is not None and (isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
                                            or max_concurrency < 1):
            self.fail(f"{path}.max_concurrency", "must be a positive integer, or absent for unlimited")
        keep_alive = spec.get("keep_alive")
        if keep_alive is not None and not isinstance(keep_alive, (str, int)):
            self.fail(f"{path}.keep_alive", "must be a string such as '5m', or a number of seconds")
        token = self.string(path, spec, "api_token", required=False)
        model_path = self.string(path, spec, "model_path", required=False)
        if len(self.problems) > before:
            return None
        if provider_id in self._hosts_by_id and self._hosts_by_id[provider_id][0] != api_host:
            self.fail(f"{path}.id", f"'{provider_id}' is also the id of a provider with another api_host "
                                    f"({self._hosts_by_id[provider_id][1]}); one id means one server")
            return None
        self._hosts_by_id.setdefault(provider_id, (api_host, path))
        if api_type == "ollama":
            api_host = _ollama_root(api_host)
        return ProviderConfig(id=provider_id, api_host=api_host, api_type=api_type, api_token=token,
                              model_path=model_path, weight=float(weight), input_size=input_size,
                              keep_alive=keep_alive, max_concurrency=max_concurrency)

    def string(self, path: str, spec: dict, key: str, *, required: bool) -> str:
        value = spec.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(f"{path}.{key}", "is required (a non-empty string)" if required else "must be a string")
            return ""
        return value.strip()


def _ollama_root(api_host: str) -> str:
    """Ollama's native API lives at the server root; a host given for its OpenAI side (``/v1``) means that root."""
    stripped = api_host.rstrip("/")
    return stripped[: -len("/v1")] + "/" if stripped.endswith("/v1") else api_host
