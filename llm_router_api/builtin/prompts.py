"""The prompt library: ``<LLM_ROUTER_PROMPTS_DIR>/<language>/builtin/<name>.txt``, re-read on use.

A template may hold ``##NAME##`` fields (llm-router's form); fields not given become empty. The
languages are the library's folders; a request's ``language`` (default
``LLM_ROUTER_DEFAULT_EP_LANGUAGE``) must be one of them (400 naming them otherwise).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import GatewayError, InvalidRequest

_FIELD = re.compile(r"##([A-Z_]+)##")


class PromptLibrary:
    def __init__(self, root: str | Path, default_language: str):
        self.root = Path(root)
        self.default_language = default_language

    def languages(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "builtin").is_dir())

    def language(self, requested) -> str:
        """The request's language (or the default), checked against the library."""
        language = self.default_language if requested in (None, "") else requested
        known = self.languages()
        if not isinstance(language, str) or language not in known:
            raise InvalidRequest(f"Unknown language {language!r}; the prompt library has: {', '.join(known)}.",
                                 param="language", code="invalid_language")
        return language

    def system(self, name: str, language: str, **fields: str) -> str:
        path = self.root / language / "builtin" / f"{name}.txt"
        try:
            template = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise GatewayError(f"The prompt '{name}' for language '{language}' is missing from the prompt "
                               "library.") from None
        return _FIELD.sub(lambda m: fields.get(m.group(1), ""), template)
