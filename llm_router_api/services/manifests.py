"""Service manifests: ``<name>.json`` beside a prompt template ``<name>.txt``, one service each.

A manifest (the seed's fields)::

    {"type": "summary", "name": "cra", "fields": ["transcript"], "backend": "llm-router",
     "description": {"pl": "...", "en": "..."},
     "flavor": [{"name": "default", "modelName": "speakleash/Bielik-11B-v2.3-Instruct",
                 "totalContextLength": 8192, "maxGenerationLength": 1024, "tokenizerClass": "",
                 "createNewTurnAfter": 600, "summaryTurns": 2, "maxNewTurns": 4,
                 "temperature": 0.2, "top_p": 0.9}]}

``type`` is ``summary`` (a transcript summarised progressively by the chunker; the template gets
``{summaries}`` and ``{turns}``) or ``completion`` (one call; the template gets the fields). Every
problem is a :class:`ManifestError` naming the file and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = ("summary", "completion")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_FLAVOR_INTS = ("totalContextLength", "maxGenerationLength", "createNewTurnAfter", "summaryTurns", "maxNewTurns")


class ManifestError(ValueError):
    """A manifest the gateway cannot serve; the message names the file and the field."""


@dataclass(frozen=True)
class Flavor:
    name: str
    model: str
    raw: dict = field(repr=False)  # the seed's limits, read by the chunker (Limits.from_flavor)
    temperature: float | None = None
    top_p: float | None = None
    tokenizer: str | None = None

    @property
    def max_generation(self) -> int:
        return int(self.raw.get("maxGenerationLength") or 512)


@dataclass(frozen=True)
class Manifest:
    name: str
    type: str
    fields: tuple[str, ...]
    flavors: tuple[Flavor, ...]
    template_path: Path
    description: dict[str, str]
    source: Path

    def flavor(self, name: str | None) -> Flavor | None:
        if name is None:
            return self.flavors[0]
        return next((f for f in self.flavors if f.name == name), None)

    def template(self) -> str:
        """Re-read on every use: an edited prompt takes effect at once."""
        return self.template_path.read_text(encoding="utf-8")

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "fields": list(self.fields), "description": self.description,
                "flavors": [{"name": f.name, "model": f.model} for f in self.flavors]}


def load_manifest(path: Path) -> Manifest:
    where = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{where}: cannot be read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: must be a JSON object")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not NAME.match(name):
        raise ManifestError(f"{where}: name: must be letters, digits, '_' or '-' (at most 64)")
    kind = data.get("type", "completion")
    if kind not in TYPES:
        raise ManifestError(f"{where}: type: must be one of {', '.join(TYPES)}")
    fields = data.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) and f.isidentifier() for f in fields):
        raise ManifestError(f"{where}: fields: must be a list of field names")
    if kind == "summary" and not fields:
        raise ManifestError(f"{where}: fields: a summary service names its transcript field first")
    description = data.get("description", {})
    if isinstance(description, str):
        description = {"en": description}
    if not isinstance(description, dict) or not all(isinstance(v, str) for v in description.values()):
        raise ManifestError(f"{where}: description: must be a text or an object of language -> text")
    flavors = data.get("flavor", data.get("flavors"))
    if isinstance(flavors, dict):
        flavors = [flavors]
    if not isinstance(flavors, list) or not flavors:
        raise ManifestError(f"{where}: flavor: must be a list of at least one flavor")
    parsed = tuple(_flavor(f"{where}: flavor[{i}]", item, kind) for i, item in enumerate(flavors))
    if len({f.name for f in parsed}) != len(parsed):
        raise ManifestError(f"{where}: flavor: names must differ")
    template = path.with_suffix(".txt")
    if not template.is_file():
        raise ManifestError(f"{where}: its prompt template {template.name} is missing")
    return Manifest(name, kind, tuple(fields), parsed, template, dict(description), path)


def _flavor(where: str, item: Any, kind: str) -> Flavor:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: must be an object")
    model = item.get("modelName")
    if not isinstance(model, str) or not model:
        raise ManifestError(f"{where}.modelName: must name a model of the models-config")
    name = item.get("name", "default")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}.name: must be a non-empty string")
    for key in _FLAVOR_INTS:
        value = item.get(key)
        required = kind == "summary" and key != "summaryTurns"
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "summaryTurns" else 1):
            raise ManifestError(f"{where}.{key}: must be a positive integer")
    for key in ("temperature", "top_p"):
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ManifestError(f"{where}.{key}: must be a number")
    tokenizer = item.get("tokenizerClass") or None
    if tokenizer is not None and not isinstance(tokenizer, str):
        raise ManifestError(f"{where}.tokenizerClass: must be a tokenizer's name or folder")
    if kind == "summary":
        from .chunker import ChunkerError, Limits

        try:
            Limits.from_flavor(item)
        except ChunkerError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    return Flavor(name, model, dict(item), item.get("temperature"), item.get("top_p"), tokenizer)
